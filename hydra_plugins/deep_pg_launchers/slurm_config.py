"""The options of ``hydra/launcher=slurm``: hydra-submitit-launcher's and ``pack``.

Registered as ``hydra/launcher/deep_pg_slurm``, which conf/hydra/launcher/slurm.yaml builds on
(the plugin's own config is a closed dataclass, so a yaml cannot add a key to it). A module of
its own, without postponed annotations: Hydra's plugin scan executes modules outside
``sys.modules``, where a dataclass cannot resolve string annotations.
"""

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclasses.dataclass
class DeepPgSlurmConf(SlurmQueueConf):
    """``pack`` is untyped so that a bad value reaches ``check_pack_size``, whose error names the
    key, rather than OmegaConf's type error."""

    _target_: str = "hydra_plugins.deep_pg_launchers.slurm_launcher.SlurmLauncher"
    pack: Any = 1


ConfigStore.instance().store(
    group="hydra/launcher", name="deep_pg_slurm", node=DeepPgSlurmConf, provider="deep_pg"
)
