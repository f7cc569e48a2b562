"""Bad input caught by Hydra itself (an unknown key, a wrong type or enum value, a group option that
does not exist, an override it cannot parse), through the installed console scripts: one line
`<command>: error: ...` naming the key or group, the bad value, what is allowed and the close
names, exit code 2, nothing written. HYDRA_FULL_ERROR=1 still shows Hydra's own text. Also: a run
trained without probe.iterations can be probed at its last checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, make_cfg, read_results

BIN = Path(sys.executable).parent  # where pip installed the console scripts


def command(name: str, *args: str, cwd: Path, env: dict | None = None):
    return subprocess.run(
        [str(BIN / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def the_error_line(proc, program: str = "deep-pg") -> str:
    """The one line a bad input prints, after checking that it is all it printed."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["opt.lr_aneal=false"],
            [
                "unknown key 'opt.lr_aneal'",
                "keys of 'opt': lr_anneal,",
                "did you mean 'opt.lr_anneal'?",
            ],
        ),
        (
            ["+algo.lr=1e-3"],
            [
                "unknown key 'algo.lr'",
                "keys of 'algo': name,",
                "did you mean 'algo.policy_lr' or 'algo.value_lr'?",
            ],
        ),
        (["total_steps=abc"], ["invalid value for 'total_steps': 'abc' (allowed: an integer)"]),
        (  # a mode, not a bool (OmegaConf stores a bool given to this str key as 'True')
            ["opt.reward_scaling=true"],
            ["invalid value for 'opt.reward_scaling': 'True' (allowed: returns | rewards | none)"],
        ),
        (
            ["logger.mode=offlin"],
            [
                "invalid value for 'logger.mode': 'offlin'",
                "offline | online | disabled",
                "did you mean 'offline'",
            ],
        ),
        (
            ["env=hoper"],
            [
                "invalid value for 'env': 'hoper'",
                "halfcheetah | hopper |",
                "did you mean 'hopper'?",
            ],
        ),
        (["algo=ppo2"], ["invalid value for 'algo': 'ppo2'", "| trpo_plus", "did you mean 'ppo'"]),
        (
            ["+sweep=ablation15"],
            ["invalid value for 'sweep': 'ablation15'", "did you mean 'ablation16'?"],
        ),
        (
            ["hydra/launcher=slurmm"],
            ["invalid value for 'hydra/launcher': 'slurmm'", "did you mean 'slurm'?"],
        ),
        (["total_steps=["], ["cannot parse the override 'total_steps=['"]),
        (["-m", "env=hoper,pendulum"], ["invalid value for 'env': 'hoper'"]),
        (["-m", "algo=ppo,ppo2"], ["invalid value for 'algo': 'ppo2'"]),  # found composing job 1
    ],
)
def test_hydras_errors_are_one_line_with_exit_code_2(tmp_path, args, said):
    flags, overrides = [a for a in args if a == "-m"], [a for a in args if a != "-m"]
    proc = command(
        "deep-pg",
        *flags,
        *TINY,
        *overrides,
        "hydra.run.dir=run",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    line = the_error_line(proc)
    assert all(part in line for part in said), line
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_hydra_full_error_keeps_hydras_own_text(tmp_path):
    proc = command("deep-pg", "env=hoper", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 1 and "Could not find 'env/hoper'" in proc.stderr
    assert "Traceback" in proc.stderr and "deep-pg: error:" not in proc.stderr


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["probe=landscape", "probe.landscape_sample=[2000]"],
            ["unknown key 'probe.landscape_sample'", "did you mean 'probe.landscape_samples'"],
        ),
        (["probe=gradiant"], ["invalid value for 'probe': 'gradiant'", "did you mean 'gradient'?"]),
        (["probe=gradient", "probe.num_workers=two"], ["'probe.num_workers': 'two'", "an integer"]),
        (["-m", "probe=gradient", "probe.landscape_sample=[2000]"], ["'probe.landscape_sample'"]),
        # the launcher's own check, named as the probe command's
        (["-m", "probe=gradient", "checkpoint=1,2"], ["invalid value for 'run_dir'"]),
    ],
)
def test_the_probe_command_says_the_same_in_its_own_name(tmp_path, args, said):
    flags, overrides = [a for a in args if a == "-m"], [a for a in args if a != "-m"]
    proc = command(
        "deep-pg-probe",
        *flags,
        f"run_dir={tmp_path / 'nowhere'}",
        "checkpoint=1",
        *overrides,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    line = the_error_line(proc, "deep-pg-probe")
    assert all(part in line for part in said), line
    assert not list(tmp_path.iterdir()), "nothing is written"


PROBE_QUICK = [
    "probe=trust_region",
    "probe.heldout_samples=256",
    "probe.num_workers=1",
    "probe.envs_per_worker=4",
    "probe.bootstrap_resamples=20",
    "logger.mode=disabled",
]


def test_a_run_trained_without_probe_iterations_is_probed_at_its_last_checkpoint(tmp_path):
    from deep_pg.run import run_training

    run_dir = tmp_path / "run"
    run_training(make_cfg(*TINY), run_dir=run_dir)  # 4 iterations, no probe.iterations
    assert not list((run_dir / "checkpoints").glob("iter_*.pt"))
    proc = command(
        "deep-pg-probe", f"run_dir={run_dir}", "checkpoint=last", *PROBE_QUICK, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "trust_region at iteration 4 ->" in proc.stdout
    assert read_results(run_dir, "trust_region").iteration.unique().tolist() == [4]
    # its iteration names it too; another iteration is refused, naming what there is
    again = command(
        "deep-pg-probe", f"run_dir={run_dir}", "checkpoint=4", *PROBE_QUICK, cwd=tmp_path
    )
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr
    line = the_error_line(
        command("deep-pg-probe", f"run_dir={run_dir}", "checkpoint=3", *PROBE_QUICK, cwd=tmp_path),
        "deep-pg-probe",
    )
    assert "invalid value for 'checkpoint': 3" in line
    assert "none (train with probe.iterations" in line
    assert "or last (checkpoints/last.pt, iteration 4)" in line
