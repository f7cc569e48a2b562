"""``hydra/sweeper=deep_pg``: Hydra's basic sweeper, leaving the check that every job composes to
deep_pg's launchers.

Hydra's sweeper composes every job of a batch once to validate it, and then the launcher composes
each again: deep_pg's launchers compose every job in their preflight (``check_jobs``), which
stops the launch whole at the first job that fails, before anything starts. At about 0.07 s a
job, the second pass was seconds of every sweep's start. With any other launcher the sweeper
validates as Hydra's does. A module of its own, without postponed annotations (see
``slurm_config``).
"""

import dataclasses
from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore


class DeepPgSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if not getattr(self.launcher, "composes_every_job", False):
            super().validate_batch_is_legal(batch)


@dataclasses.dataclass
class DeepPgSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.deep_pg_launchers.sweeper.DeepPgSweeper"


ConfigStore.instance().store(
    group="hydra/sweeper", name="deep_pg", node=DeepPgSweeperConf, provider="deep_pg"
)
