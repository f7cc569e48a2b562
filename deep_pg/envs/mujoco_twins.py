"""Batched twins of gymnasium's MuJoCo locomotion steps: Hopper, Walker2d, HalfCheetah and
Humanoid, v4 and v5.

Around the physics, gymnasium's ``env.step`` spends about a third of a Hopper step in Python
(argument checks, observation assembly, the health check's temporaries, the info dict). A twin
keeps per environment only the calls gymnasium's ``do_simulation`` makes (``ctrl``, ``mj_step``
with the frame skip, ``mj_rnePostConstraint``) on the env's own MjModel/MjData, and computes
observation, reward and termination of all environments at once from copies of the MjData fields
gymnasium reads, with gymnasium's arithmetic in gymnasium's order: every value equals
``env.step``'s bit for bit (tests/test_fast_envs.py). Resets stay gymnasium's ``env.reset()``
(seeding and reset noise untouched), and the MjData stepped are the envs' own, so checkpoints hold
the same state either way.

``stepper_for`` picks a twin only for an env whose class and settings a twin reproduces (the
task's class itself, not a subclass; no rendering; the default observation layout) and
gymnasium's own step for every other env.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mujoco
import numpy as np

from deep_pg.envs.arrays import clip

Step = tuple[np.ndarray, np.ndarray, np.ndarray]  # (obs (k, obs_dim), reward (k,), terminated (k,))


class GymStepper:
    """Each env's own ``step``: for envs without a twin."""

    def __init__(self, obs_dim: int):
        self.obs_dim = obs_dim

    def step(self, envs: Sequence, actions: np.ndarray) -> Step:
        k = len(envs)
        obs, reward = np.empty((k, self.obs_dim)), np.empty(k)
        terminated = np.zeros(k, dtype=bool)
        for i, env in enumerate(envs):
            obs[i], reward[i], terminated[i], _, _ = env.step(actions[i])
        return obs, reward, terminated


class _Twin:
    """What every twin shares: the per-env simulation loop and the reward weights."""

    def __init__(self, env, healthy_rule: str | None):
        self.frame_skip, self.dt = env.frame_skip, env.dt
        self.forward_weight, self.ctrl_weight = env._forward_reward_weight, env._ctrl_cost_weight
        self.healthy_rule = (
            healthy_rule  # "v5": is_healthy * w; "v4": (is_healthy or terminate) * w
        )
        if healthy_rule is not None:
            self.healthy_weight = env._healthy_reward
            self.terminate_when_unhealthy = env._terminate_when_unhealthy

    def healthy_reward(self, healthy: np.ndarray) -> np.ndarray:
        if self.healthy_rule == "v5":
            return healthy * self.healthy_weight
        return (healthy | self.terminate_when_unhealthy).astype(np.float64) * self.healthy_weight

    def terminated(self, healthy: np.ndarray) -> np.ndarray:
        return ~healthy & self.terminate_when_unhealthy


class PlanarTwin(_Twin):
    """Hopper, Walker2d, HalfCheetah: forward velocity from qpos[0]; observation qpos[1:] and qvel
    (clipped to +-10 where ``qvel_clip``); ``health`` the task's healthy test (None: never ends)."""

    def __init__(
        self,
        env,
        healthy_rule: str | None,
        qvel_clip: bool,
        health: Callable[[PlanarTwin, np.ndarray, np.ndarray], np.ndarray] | None,
    ):
        super().__init__(env, healthy_rule)
        self.qvel_clip, self.health = qvel_clip, health
        self.nq, self.nv = env.model.nq, env.model.nv
        self.env = env  # health ranges are read from it

    def step(self, envs: Sequence, actions: np.ndarray) -> Step:
        k, frame_skip = len(envs), self.frame_skip
        x_before = np.empty(k)
        qpos, qvel = np.empty((k, self.nq)), np.empty((k, self.nv))
        step, rne = mujoco.mj_step, mujoco.mj_rnePostConstraint
        for i, env in enumerate(envs):
            data, model = env.data, env.model
            x_before[i] = data.qpos[0]
            data.ctrl[:] = actions[i]
            step(model, data, nstep=frame_skip)
            rne(model, data)
            qpos[i] = data.qpos
            qvel[i] = data.qvel
        x_velocity = (qpos[:, 0] - x_before) / self.dt
        velocity = (
            clip(qvel, -10, 10) if self.qvel_clip else qvel
        )  # np.clip's values, less dispatch
        obs = np.concatenate((qpos[:, 1:], velocity), axis=1)
        forward_reward = self.forward_weight * x_velocity
        ctrl_cost = self.ctrl_weight * np.sum(np.square(actions), axis=1)
        if self.health is None:
            return obs, forward_reward - ctrl_cost, np.zeros(k, dtype=bool)
        healthy = self.health(self, qpos, qvel)
        reward = (forward_reward + self.healthy_reward(healthy)) - ctrl_cost
        return obs, reward, self.terminated(healthy)


def _in(low, x, high) -> np.ndarray:
    return (low < x) & (x < high)


def hopper_health(twin: PlanarTwin, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Every state entry but x and z within the state range, z and the angle within theirs."""
    env = twin.env
    min_state, max_state = env._healthy_state_range
    state = np.concatenate((qpos[:, 2:], qvel), axis=1)
    healthy_state = np.all(_in(min_state, state, max_state), axis=1)
    return (
        healthy_state
        & _in(*_ends(env._healthy_z_range, qpos[:, 1]))
        & _in(*_ends(env._healthy_angle_range, qpos[:, 2]))
    )


def walker_health(twin: PlanarTwin, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    env = twin.env
    return _in(*_ends(env._healthy_z_range, qpos[:, 1])) & _in(
        *_ends(env._healthy_angle_range, qpos[:, 2])
    )


def _ends(bounds, x):
    low, high = bounds
    return low, x, high


class HumanoidTwin(_Twin):
    """Humanoid: forward velocity of the mass center (gymnasium's own ``mass_center``, per env);
    observation qpos[2:], qvel and the com-based inertia, velocity, actuator and external forces
    (v5 leaves out the world body and the free joint's entries); v5 adds the clipped contact
    cost."""

    FIELDS = ("cinert", "cvel", "qfrc_actuator", "cfrc_ext")

    def __init__(self, env, version: str):
        super().__init__(env, healthy_rule=version)
        self.version = version
        self.mass_center = _humanoid_module(version).mass_center
        self.nq, self.nv = env.model.nq, env.model.nv
        self.shapes = {f: getattr(env.data, f).shape for f in self.FIELDS}
        self.min_z, self.max_z = env._healthy_z_range
        if version == "v5":
            self.contact_weight = env._contact_cost_weight
            self.contact_range = env._contact_cost_range

    def step(self, envs: Sequence, actions: np.ndarray) -> Step:
        k, frame_skip = len(envs), self.frame_skip
        xy_before, xy_after = np.empty((k, 2)), np.empty((k, 2))
        qpos, qvel = np.empty((k, self.nq)), np.empty((k, self.nv))
        fields = {f: np.empty((k, *shape)) for f, shape in self.shapes.items()}
        cinert, cvel, qfrc, cfrc = (fields[f] for f in self.FIELDS)
        step, rne, mass_center = mujoco.mj_step, mujoco.mj_rnePostConstraint, self.mass_center
        for i, env in enumerate(envs):
            data, model = env.data, env.model
            xy_before[i] = mass_center(model, data)
            data.ctrl[:] = actions[i]
            step(model, data, nstep=frame_skip)
            rne(model, data)
            xy_after[i] = mass_center(model, data)
            qpos[i], qvel[i] = data.qpos, data.qvel
            cinert[i], cvel[i], qfrc[i], cfrc[i] = (
                data.cinert,
                data.cvel,
                data.qfrc_actuator,
                data.cfrc_ext,
            )
        x_velocity = ((xy_after - xy_before) / self.dt)[:, 0]
        if self.version == "v5":
            parts = (
                qpos[:, 2:],
                qvel,
                cinert[:, 1:].reshape(k, -1),
                cvel[:, 1:].reshape(k, -1),
                qfrc[:, 6:],
                cfrc[:, 1:].reshape(k, -1),
            )
        else:
            parts = (
                qpos[:, 2:],
                qvel,
                cinert.reshape(k, -1),
                cvel.reshape(k, -1),
                qfrc,
                cfrc.reshape(k, -1),
            )
        obs = np.concatenate(parts, axis=1)
        healthy = _in(self.min_z, qpos[:, 2], self.max_z)
        rewards = self.forward_weight * x_velocity + self.healthy_reward(healthy)
        # gymnasium's Humanoid prices data.ctrl, the float64 copy of the action
        ctrl_cost = self.ctrl_weight * np.sum(np.square(actions.astype(np.float64)), axis=1)
        if self.version == "v5":
            contact_cost = self.contact_weight * np.sum(np.square(cfrc.reshape(k, -1)), axis=1)
            contact_cost = np.clip(contact_cost, *self.contact_range)
            reward = rewards - (ctrl_cost + contact_cost)
        else:
            reward = rewards - ctrl_cost
        return obs, reward, self.terminated(healthy)


def _humanoid_module(version: str):
    from gymnasium.envs.mujoco import humanoid_v4, humanoid_v5

    return {"v4": humanoid_v4, "v5": humanoid_v5}[version]


def _twin_factories() -> dict[type, Callable]:
    """Env class -> twin of one env of it (the settings are read from that env)."""
    from gymnasium.envs.mujoco import (
        half_cheetah_v4,
        half_cheetah_v5,
        hopper_v4,
        hopper_v5,
        humanoid_v4,
        humanoid_v5,
        walker2d_v4,
        walker2d_v5,
    )

    factories: dict[type, Callable] = {}
    for version, hopper, walker, cheetah, humanoid in (
        ("v4", hopper_v4, walker2d_v4, half_cheetah_v4, humanoid_v4),
        ("v5", hopper_v5, walker2d_v5, half_cheetah_v5, humanoid_v5),
    ):
        factories[hopper.HopperEnv] = lambda env, v=version: PlanarTwin(
            env, v, qvel_clip=True, health=hopper_health
        )
        factories[walker.Walker2dEnv] = lambda env, v=version: PlanarTwin(
            env, v, qvel_clip=True, health=walker_health
        )
        factories[cheetah.HalfCheetahEnv] = lambda env: PlanarTwin(
            env, None, qvel_clip=False, health=None
        )
        factories[humanoid.HumanoidEnv] = lambda env, v=version: HumanoidTwin(env, v)
    return factories


def _default_layout(env) -> bool:
    """The observation layout a twin builds: positions without the current x (and y)."""
    if getattr(env, "_exclude_current_positions_from_observation", None) is not True:
        return False
    flags = [
        getattr(env, f"_include_{f}_in_observation", True)
        for f in ("cinert", "cvel", "qfrc_actuator", "cfrc_ext")
    ]
    return all(flag is True for flag in flags)


def twin_for(env):
    """The twin of a bare gymnasium env, or None where none reproduces it exactly."""
    try:
        factory = _twin_factories().get(type(env))
    except ImportError:  # gymnasium without its MuJoCo tasks
        return None
    if factory is None or env.render_mode is not None or not _default_layout(env):
        return None
    return factory(env)


def stepper_for(envs: Sequence, obs_dim: int):
    """A twin for ``envs`` (bare envs of one id) where one reproduces them, else gymnasium's
    step."""
    return twin_for(envs[0]) or GymStepper(obs_dim)
