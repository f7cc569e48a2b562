"""How the local launcher spreads packs over cores: every core busy while packs update."""

from __future__ import annotations

from hydra_plugins.deep_pg_launchers.local_launcher import (
    packs_at_once,
    sampling_workers,
)


def test_as_many_packs_as_cores_run_at_once_each_sampling_in_its_own_process():
    assert packs_at_once(num_packs=2, n_jobs=2) == (2, 1)
    assert packs_at_once(num_packs=5, n_jobs=2) == (2, 1)
    assert sampling_workers(cores=1, members=16) == 0


def test_fewer_packs_than_cores_share_the_cores_out_as_sampling_workers():
    assert packs_at_once(num_packs=1, n_jobs=2) == (1, 2)
    assert packs_at_once(num_packs=2, n_jobs=8) == (2, 4)
    assert sampling_workers(cores=4, members=16) == 4
    assert sampling_workers(cores=4, members=3) == 3  # at most one worker per member
    assert sampling_workers(cores=4, members=1) == 0  # a pack of one samples in its process
