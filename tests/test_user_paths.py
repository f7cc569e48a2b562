"""What a new user types first: --help, a key Hydra told them to add with +, the documented way to
see a sweep's parameters. Each must give a clear answer, not a silent success or a traceback."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPO, TINY, make_cfg, run_cli

from deep_pg.config import ConfigError, check_known_keys

USER_GROUPS = ("algo", "env", "opt", "probe")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("deep-pg: error:")]


@pytest.mark.parametrize(
    "override,key",
    [
        ("+algo.lr=1e-3", "algo.lr"),
        ("+opt.lr_aneal=true", "opt.lr_aneal"),
        ("+sede=3", "sede"),
        ("+probe.extra.depth=2", "probe.extra"),
    ],
)
def test_a_key_added_with_plus_must_be_one_the_schema_knows(override, key):
    with pytest.raises(ConfigError) as err:
        check_known_keys(make_cfg(override))
    assert err.value.key == key


def test_schema_keys_and_sweep_presets_pass_the_key_check():
    check_known_keys(make_cfg("+sweep=[ablation16,lr_grid]", "probe=all", "algo=trpo"))


def test_plus_typo_on_the_command_line_is_one_clear_error(tmp_path):
    proc = run_cli(*TINY, "+algo.lr=1e-3", "hydra.run.dir=run", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "'algo.lr'" in errors[0] and "policy_lr" in errors[0]
    assert not (tmp_path / "run").exists()


def test_plus_typo_in_a_sweep_stops_it_before_any_job_runs(tmp_path):
    proc = run_cli(
        "-m",
        *TINY,
        "+algo.lr=1e-3",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path / 's'}",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "'algo.lr'" in errors[0]
    assert not list(tmp_path.rglob("metrics.jsonl")) and "Traceback" not in proc.stderr


def documented_command(doc: str, flag: str) -> list[str]:
    """The one `deep-pg ...` command in backticks in ``doc`` that uses ``flag``."""
    commands = [
        c
        for c in re.findall(r"`(deep-pg [^`]+)`", (REPO / doc).read_text())
        if flag in shlex.split(c)
    ]
    assert len(commands) == 1, commands
    return shlex.split(commands[0])


def test_the_documented_way_to_print_a_sweeps_parameters_works(tmp_path):
    args = documented_command("docs/sweeps.md", "--cfg")
    proc = run_cli(*args[1:], cwd=tmp_path)
    assert "opt.lr_anneal: true,false" in proc.stdout  # ablation16
    assert "algo.policy_lr: 0.0001,0.0002,0.0004,0.0008,0.0016" in proc.stdout  # walker2d's grid
    assert not (tmp_path / "outputs").exists()


def test_cfg_with_multirun_is_one_line_pointing_to_what_works(tmp_path):
    proc = run_cli("-m", "+sweep=ablation16", "--cfg", "hydra", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "-p hydra.sweeper.params" in errors[0]


def test_help_is_the_apps_own(tmp_path):
    text = run_cli("--help", cwd=tmp_path).stdout
    for preset in sorted((REPO / "conf/sweep").glob("*.yaml")):
        assert f"+sweep={preset.stem}" in text
    for group in USER_GROUPS:
        line = next(line for line in text.splitlines() if line.startswith(f"{group} "))
        assert all(p.stem in line for p in (REPO / "conf" / group).glob("*.yaml")), line
    assert "tuned" not in text.replace("tuned hyperparameters", "")
    assert "sweep/grids" not in text and "Powered by Hydra" not in text
    assert "deep-pg -m" in text and "metrics.jsonl" in text


def test_the_install_puts_only_the_projects_own_names_at_the_top_of_site_packages(tmp_path):
    """A top-level package called e.g. `analysis` would collide with any other project's: the
    installed distribution's import names are deep_pg and the Hydra plugin namespace, and the
    analysis imports as deep_pg.analysis from anywhere (here: outside the checkout)."""
    code = (
        "import importlib.metadata as m, importlib.util as u, deep_pg.analysis\n"
        "own = sorted(n for n, d in m.packages_distributions().items() if 'deep_pg' in d)\n"
        "print(own, u.find_spec('analysis') is None)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['deep_pg', 'hydra_plugins'] True"
