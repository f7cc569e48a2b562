"""Each default of the config schema lives in one place: its dataclass or its group's YAML options.

Per key of a group's node (conf/<group>/ for algo, env, opt, probe, logger): a key that every option
of the group sets has no default in the dataclass (MISSING), and the options are its source; any
other key has its default in the dataclass, and no option sets it to the value it would have
anyway. The primary configs (conf/config.yaml, conf/deep_pg_probe.yaml) restate no default of their
schema. The groups that override per (algo, env) or per setting (tuned, setting, setting_tuned)
hold no inert value, one whose removal leaves every composed config identical, except the values
they transcribe from a source (TRANSCRIBED_INERT).
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from deep_pg.config import Config
from deep_pg.probes.request import ProbeAppConfig

CONF = REPO / "conf"

# The groups that set a node of Config's: a field whose type is a schema dataclass and that has a
# directory of options under conf/.
SCHEMA_GROUPS: dict[str, type] = {
    name: hint
    for name, hint in get_type_hints(Config).items()
    if dataclasses.is_dataclass(hint) and (CONF / name).is_dir()
}

# The groups that set keys of those nodes (@package _global_) per (algo, env) or per setting.
OVERRIDE_GROUPS = ("tuned", "setting", "setting_tuned")

# Values of the override groups that equal what would be composed without them, kept because they
# transcribe a source: the paper's Table 1, or a choice the file names for its (algo, env) pair.
# Each would otherwise follow the dataclass default when that changes. (file, key) -> the source.
TRANSCRIBED_INERT: dict[tuple[str, str], str] = {
    ("tuned/ppo_walker2d.yaml", "algo.value_lr"): "Table 1, PPO on Walker2d",
    ("tuned/trpo_walker2d.yaml", "algo.value_lr"): "Table 1, TRPO on Walker2d",
    ("tuned/trpo_humanoid.yaml", "algo.value_lr"): "Table 1, TRPO on Humanoid",
    ("tuned/trpo_halfcheetah.yaml", "algo.value_lr"): "Walker2d's Table 1 values, chosen",
    ("tuned/ppo_halfcheetah.yaml", "algo.policy_lr"): "the centre of the HalfCheetah LR grid",
    ("tuned/ppo_halfcheetah.yaml", "algo.value_lr"): "the common PPO value for MuJoCo, chosen",
}

MISSING = "???"
NOT_SET = object()


def rel(path: Path) -> str:
    return path.relative_to(CONF).as_posix()


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf (a list is a leaf, as Hydra merges it whole)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(leaves(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}"))
    return out


def same(a: Any, b: Any) -> bool:
    """Equal as composed values: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def schema_defaults(schema: type) -> dict[str, Any]:
    """Dotted key -> default of every field of a schema dataclass; a MISSING field is left out."""
    tree = OmegaConf.to_container(OmegaConf.structured(schema), enum_to_str=True)
    return {k: v for k, v in leaves(tree).items() if v != MISSING}


def schema_keys(schema: type) -> list[str]:
    return list(leaves(OmegaConf.to_container(OmegaConf.structured(schema))))


def layers(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """A config file and the configs of its own group its defaults list pulls in, in merge order
    (a later layer wins); entries that pick another group's option (override /opt@...) set no
    value of this file's node."""
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert isinstance(raw, dict)
    defaults = raw.pop("defaults", [])
    if "_self_" not in defaults:
        defaults = [*defaults, "_self_"]  # Hydra's implicit position of a config's own values
    out: list[tuple[Path, dict[str, Any]]] = []
    for entry in defaults:
        if entry == "_self_":
            out.append((path, leaves(raw)))
        elif isinstance(entry, str):
            out.extend(layers(path.parent / f"{entry}.yaml"))
    return out


def merged(stack: list[tuple[Path, dict[str, Any]]], skip: tuple[int, str] | None = None) -> dict:
    """The leaves a stack of layers composes to, without layer skip[0]'s key skip[1]."""
    out: dict[str, Any] = {}
    for i, (_, values) in enumerate(stack):
        out.update({k: v for k, v in values.items() if (i, k) != skip})
    return out


def options(group: str) -> list[Path]:
    return sorted((CONF / group).glob("*.yaml"))


def test_the_schema_groups_are_found():
    assert set(SCHEMA_GROUPS) == {"algo", "env", "opt", "probe", "logger"}


@pytest.mark.parametrize("group", sorted(SCHEMA_GROUPS))
def test_no_option_sets_a_key_to_the_value_it_has_anyway(group):
    schema = SCHEMA_GROUPS[group]
    defaults = schema_defaults(schema)
    restated = []
    for path in options(group):
        stack = layers(path)
        own = max(i for i, (p, _) in enumerate(stack) if p == path)
        composed = merged(stack)
        for key, value in stack[own][1].items():
            without = merged(stack, skip=(own, key)).get(key, defaults.get(key, NOT_SET))
            if without is not NOT_SET and same(without, composed[key]):
                where = (
                    f"{schema.__name__}.{key}'s default"
                    if key not in merged(stack, skip=(own, key))
                    else "what the option's defaults list gives"
                )
                restated.append(f"conf/{rel(path)}: {group}.{key}: {value!r} restates {where}")
    assert not restated, "\n".join(restated)


@pytest.mark.parametrize("group", sorted(SCHEMA_GROUPS))
def test_a_key_every_option_sets_has_no_dataclass_default(group):
    schema = SCHEMA_GROUPS[group]
    defaults = schema_defaults(schema)
    set_by = {path: set(merged(layers(path))) for path in options(group)}
    problems = []
    for key in schema_keys(schema):
        setters = [p for p, keys in set_by.items() if key in keys]
        if len(setters) == len(set_by) and key in defaults:
            problems.append(
                f"every option of conf/{group}/ sets {group}.{key}, so the default "
                f"{schema.__name__}.{key} = {defaults[key]!r} is never used: make the field "
                "MISSING, or keep the default and drop the key from the options that restate it"
            )
        if key not in defaults and len(setters) < len(set_by):
            unset = ", ".join(f"conf/{rel(p)}" for p in set_by if p not in setters)
            problems.append(f"{group}.{key} has no default and {unset} leaves it unset")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "name,schema", [("config.yaml", Config), ("deep_pg_probe.yaml", ProbeAppConfig)]
)
def test_the_primary_config_restates_no_default(name, schema):
    raw = OmegaConf.to_container(OmegaConf.load(CONF / name), resolve=False)
    assert isinstance(raw, dict)
    own = leaves({k: v for k, v in raw.items() if k not in ("defaults", "hydra")})
    defaults = schema_defaults(schema)
    restated = [
        f"conf/{name}: {key}: {value!r} restates {schema.__name__}'s default"
        for key, value in own.items()
        if key in defaults and same(defaults[key], value)
    ]
    assert not restated, "\n".join(restated)


@pytest.fixture(scope="module")
def conf_without_setting(tmp_path_factory) -> Path:
    """A copy of conf/ with a setting that sets nothing, so that a config can be composed without
    the override groups (a removed `setting` would leave setting_tuned's ${setting} unresolved)."""
    conf = tmp_path_factory.mktemp("conf") / "conf"
    shutil.copytree(CONF, conf)
    (conf / "setting" / "no_setting_values.yaml").write_text("# @package _global_\n")
    return conf


def override_stack(algo: str, env: str, setting: str) -> list[tuple[Path, dict[str, Any]]]:
    """The override groups' layers of one (algo, env, setting), in the order conf/config.yaml
    merges them: tuned, then setting, then setting_tuned."""
    stack = []
    for path in (
        CONF / "tuned" / f"{algo}_{env}.yaml",
        CONF / "setting" / f"{setting}.yaml",
        CONF / "setting_tuned" / setting / f"{algo}_{env}.yaml",
    ):
        if path.exists():
            stack.extend(layers(path))
    return stack


def test_override_groups_hold_no_inert_value_but_transcribed_ones(conf_without_setting):
    algos, envs, opts, settings = (
        [p.stem for p in options(g)] for g in ("algo", "env", "opt", "setting")
    )
    touched: dict[tuple[str, str], Any] = {}  # (file, key) -> value
    matters: set[tuple[str, str]] = set()
    checked = {
        ("pg", "hopper", "none", "released"),
        ("ppo_noclip", "walker2d", "none", "paper"),
        ("trpo_plus", "humanoid", "all", "released"),
    }
    with initialize_config_dir(config_dir=str(conf_without_setting), version_base="1.3"):
        for algo, env, opt in itertools.product(algos, envs, opts):
            choice = [f"algo={algo}", f"env={env}", f"opt={opt}"]
            base_cfg = compose(
                config_name="config",
                overrides=[*choice, "setting=no_setting_values", "~tuned", "~setting_tuned"],
            )
            base = leaves(OmegaConf.to_container(base_cfg, resolve=False, enum_to_str=True))
            for setting in settings:
                stack = override_stack(algo, env, setting)
                composed = {**base, **merged(stack)}
                for i, (path, values) in enumerate(stack):
                    for key, value in values.items():
                        touched[rel(path), key] = value
                        without = merged(stack, skip=(i, key)).get(key, base[key])
                        if not same(without, composed[key]):
                            matters.add((rel(path), key))
                if (algo, env, opt, setting) in checked:  # the model above is Hydra's merge
                    real = compose(config_name="config", overrides=[*choice, f"setting={setting}"])
                    real_leaves = leaves(
                        OmegaConf.to_container(real, resolve=False, enum_to_str=True)
                    )
                    assert {k: real_leaves[k] for k in composed} == composed
    inert = {
        f"conf/{file}: {key}: {touched[file, key]!r} changes no composed config"
        for file, key in set(touched) - matters
        if (file, key) not in TRANSCRIBED_INERT
    }
    assert not inert, "\n".join(sorted(inert))
    stale = set(TRANSCRIBED_INERT) - (set(touched) - matters)
    assert not stale, f"TRANSCRIBED_INERT lists values that are not inert (or gone): {stale}"
