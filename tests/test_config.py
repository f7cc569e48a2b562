"""Config groups compose, tuned values come from files, and bad input fails with the key named."""

from __future__ import annotations

import pytest
from conftest import REPO, TINY, make_cfg, run_cli

from deep_pg.config import ConfigError, validate

ALGOS = ["ppo", "ppo_m", "ppo_noclip", "trpo", "trpo_plus", "pg"]
ENVS = ["hopper", "walker2d", "halfcheetah", "humanoid", "pendulum"]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env", ENVS)
def test_every_algo_env_pair_composes_and_validates(algo, env):
    cfg = make_cfg(f"algo={algo}", f"env={env}")
    validate(cfg)
    assert cfg.algo.name == algo and cfg.env.name == env


@pytest.mark.parametrize(
    "algo,env,key,expected",
    [
        ("ppo", "hopper", "policy_lr", 4.5e-4),
        ("ppo", "hopper", "value_lr", 2e-4),
        ("ppo", "walker2d", "policy_lr", 4e-4),
        ("ppo", "humanoid", "value_lr", 1e-4),
        ("ppo_m", "humanoid", "policy_lr", 9e-5),
        ("trpo", "hopper", "max_kl", 0.13),
        ("trpo", "walker2d", "max_kl", 0.04),
        ("trpo_plus", "humanoid", "max_kl", 0.1),
    ],
)
def test_table1_hyperparameters_come_from_tuned_files(algo, env, key, expected):
    assert make_cfg(f"algo={algo}", f"env={env}").algo[key] == pytest.approx(expected)


def test_presets_set_the_optimizations():
    assert make_cfg("algo=ppo").opt.lr_anneal is True
    ppo_m = make_cfg("algo=ppo_m")
    assert not any(ppo_m.opt[k] for k in ("lr_anneal", "ortho_init", "value_clip"))
    assert ppo_m.opt.reward_scaling == "none"
    assert ppo_m.algo.clip_eps == 0.2
    assert make_cfg("algo=ppo_noclip").algo.clip_eps is None
    assert make_cfg("algo=trpo").opt.reward_scaling == "none"
    assert make_cfg("algo=trpo_plus").opt.reward_scaling == "returns"
    # the command line wins over the algo preset
    assert make_cfg("algo=ppo_m", "opt.lr_anneal=true").opt.lr_anneal is True


def test_every_config_yaml_matches_the_schema():
    """Each option file is merged into the typed schema: none may hold a key the schema lacks."""
    for group in ("algo", "env", "opt", "logger", "probe"):
        for path in sorted((REPO / "conf" / group).glob("*.yaml")):
            make_cfg(f"{group}={path.stem}")


@pytest.mark.parametrize(
    "override,key,value",
    [
        ("total_steps=0", "total_steps", "0"),
        ("algo.steps_per_iter=-5", "algo.steps_per_iter", "-5"),
        ("algo.policy_lr=0", "algo.policy_lr", "0"),
        ("env.num_envs=3", "algo.steps_per_iter", "2048"),
        ("opt.grad_clip=-1", "opt.grad_clip", "-1"),
        ("algo.gamma=1.5", "algo.gamma", "1.5"),
    ],
)
def test_validate_names_key_value_and_what_is_allowed(override, key, value):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(override))
    message = str(err.value)
    assert f"'{key}'" in message and value in message and "allowed" in message


@pytest.mark.parametrize(
    "override,needle",
    [
        ("opt.lr_aneal=true", "lr_aneal"),  # typo
        ("seed=abc", "seed"),  # wrong type
        ("opt.activation=sigmoid", "activation"),  # not an allowed value
        ("algo=sac", "algo"),  # unknown option
        ("env=atari", "env"),
        ("logger.mode=sometimes", "mode"),
    ],
)
def test_bad_overrides_fail_on_the_command_line(tmp_path, override, needle):
    proc = run_cli(override, "--cfg", "job", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_invalid_value_exits_2_with_one_line_and_leaves_no_run_dir(tmp_path):
    proc = run_cli(*TINY, "total_steps=-1", "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("deep-pg: error:")]
    assert len(errors) == 1 and "'total_steps'" in errors[0] and "-1" in errors[0]
    assert not (tmp_path / "run").exists()


def test_unknown_gymnasium_id_names_the_key(tmp_path):
    proc = run_cli(*TINY, "env.id=Nope-v0", "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "'env.id'" in proc.stderr and "Nope-v0" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_cfg_job_shows_the_composed_config(tmp_path):
    proc = run_cli("algo=ppo_m", "env=walker2d", "--cfg", "job", "--resolve", cwd=tmp_path)
    assert "name: ppo_m" in proc.stdout and "id: Walker2d-v5" in proc.stdout
    assert "lr_anneal: false" in proc.stdout
