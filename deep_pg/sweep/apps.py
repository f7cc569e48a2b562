"""The two Hydra apps whose jobs the launchers run, told apart by ``hydra.job.name``: ``deep_pg``
(training) and ``deep_pg_probe`` (probes on a kept checkpoint). What a launcher asks of a job is
here: its run directory, how to check its config before launching (which depends on the app), and
whether it is done already (skip-if-done). Heavy imports stay inside the functions: launchers
start light.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from deep_pg.tracking.run_store import training_completed

PROBE_APP = "deep_pg_probe"


def job_run_dir(sweep_config: DictConfig) -> Path:
    return Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)


def is_probe_job(cfg: DictConfig) -> bool:
    return str(cfg.hydra.job.name) == PROBE_APP


def check(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key of a job's composed config."""
    if is_probe_job(cfg):
        from deep_pg.probes.request import load_request

        load_request(cfg)  # known keys, the checkpoint, the probe settings against it
    else:
        from deep_pg.config import check_known_keys

        check_known_keys(cfg)


def job_done(cfg: DictConfig) -> bool:
    """Skip-if-done: is this job's work done with this job's config? A training job: its run
    trained to the end (``training_completed``) with the same identity (``completed_run_mismatch``).
    A probe job: ``deep_pg.probes.request.probe_job_done``."""
    if is_probe_job(cfg):
        from deep_pg.probes.request import probe_job_done

        return probe_job_done(cfg)
    run_dir = job_run_dir(cfg)
    if not training_completed(run_dir):
        return False
    from deep_pg.trainer import completed_run_mismatch  # imports torch: only for a finished run

    return completed_run_mismatch(run_dir, cfg) is None


def was_done(cfg: DictConfig) -> bool:
    """Before a job runs: will it find its work done (its index line then says skipped)? A
    training job that finds a completed run of another config fails instead, so the config is
    not compared here."""
    if is_probe_job(cfg):
        return job_done(cfg)
    return training_completed(job_run_dir(cfg))
