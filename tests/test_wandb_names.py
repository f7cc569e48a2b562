"""wandb run names tell the runs of a sweep apart: they say what names the run's directory (algo,
env, toggles, step size, other overrides, seed), with grouping and tags as before."""

from __future__ import annotations

import itertools
from pathlib import Path

from conftest import TINY, make_cfg
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deep_pg.cli import CONF_DIR
from deep_pg.run import run_pack
from deep_pg.tracking.wandb_logger import HYDRA_OVERRIDES, run_name, run_tags

TOGGLES = ("opt.lr_anneal", "opt.reward_scaling", "opt.ortho_init", "opt.value_clip")
ON, OFF = {"opt.reward_scaling": "returns"}, {"opt.reward_scaling": "none"}


def ablation_jobs(*fixed: str) -> list[list[str]]:
    """The overrides of +sweep=ablation16's 16 jobs, as Hydra hands them to a job."""
    return [
        [
            *fixed,
            *(
                f"{key}={ON.get(key, 'true') if on else OFF.get(key, 'false')}"
                for key, on in zip(TOGGLES, bits)
            ),
        ]
        for bits in itertools.product((True, False), repeat=4)
    ]


def job(overrides: list[str], run_dir: Path):
    """The job's config with Hydra's node, and its run directory holding the overrides as Hydra
    records them."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), run_dir / HYDRA_OVERRIDES)
    return cfg


def test_the_sixteen_ablation_runs_get_sixteen_names_that_read_as_their_directories(tmp_path):
    names = []
    for k, overrides in enumerate(ablation_jobs("env=hopper", "seed=2")):
        cfg = job(overrides, tmp_path / str(k))
        names.append(run_name(cfg, tmp_path / str(k)))
        assert names[-1] == str(cfg.hydra.sweep.subdir).replace("/", "-")
    assert len(set(names)) == 16
    assert names[0] == "ppo-hopper-opt=1111-lr=4.5e-4-seed=2"
    assert names[-1] == "ppo-hopper-opt=0000-lr=4.5e-4-seed=2"


def test_each_run_of_a_pack_logs_under_its_own_name_with_the_sweeps_group_and_tags(
    tmp_path, monkeypatch
):
    import wandb

    started = []

    class Run:
        summary: dict = {}

        def define_metric(self, *args, **kwargs): ...

        def log(self, *args, **kwargs): ...

        def finish(self, *args, **kwargs): ...

    def init(**kwargs):
        started.append(kwargs)
        return Run()

    monkeypatch.setattr(wandb, "init", init)
    tiny = [a for a in TINY if not a.startswith("logger")]
    jobs = ablation_jobs(*tiny, "logger.mode=offline", "seed=0")[:2]  # value_clip on, off
    run_dirs = [tmp_path / str(k) for k in range(len(jobs))]
    for overrides, run_dir in zip(jobs, run_dirs):
        job(overrides, run_dir)
    cfgs = [make_cfg(*overrides) for overrides in jobs]
    run_pack(cfgs, run_dirs, sweep="my_sweep", workers=1)
    names = [kwargs["name"] for kwargs in started]
    assert names == [run_name(cfg, d) for cfg, d in zip(cfgs, run_dirs)]
    assert names[0].startswith("ppo-pendulum-opt=1111-lr=") and "-opt=1110-" in names[1]
    assert all(name.endswith("-seed=0") for name in names)
    assert [kwargs["group"] for kwargs in started] == ["my_sweep", "my_sweep"]
    assert [kwargs["tags"] for kwargs in started] == [run_tags(cfg) for cfg in cfgs]
    assert [kwargs["job_type"] for kwargs in started] == ["ppo", "ppo"]
