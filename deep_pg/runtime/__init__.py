"""Rules a training process follows wherever it was started: which runs may share a process
(``packing``: the packing rule, the sampling workers of a pack) and what a Slurm requeue signal
does to a running job (``preemption``: checkpoint between iterations, then requeue).

The trainer, the sampling workers and the launchers all read these rules, so they sit below all
of them; nothing here imports training or launching code.
"""
