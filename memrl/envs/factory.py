"""``make`` and ``make_vec``: one way to build any environment memrl trains on.

Environment ids come in four kinds, all made the same way from configs and the command line:

- ``memrl/...``: memrl's own environments (``memrl.envs.registered_ids()``); no standard wrapper.
- MiniGrid (``MiniGrid-...``, ``BabyAI-...``; any id whose entry point lives in ``minigrid``):
  the ``minigrid`` wrapper (:class:`~memrl.envs.minigrid_wrappers.MiniGridObs`) is applied by
  default. The view size comes from the keyword ``view_size`` or ``agent_view_size`` (same
  meaning) and is passed to the environment's constructor, so the observation is computed
  once at that size and the full-view frame highlights the right cells.
- POPGym: the registered id ``popgym-<Task><Difficulty>-v0`` (canonical; as ``import popgym``
  registers it) or the same name without the ``popgym-`` prefix and/or without ``-v0``
  (``RepeatPreviousEasy``). The ``popgym`` wrapper
  (:func:`~memrl.envs.popgym_wrappers.popgym_wrapper`: flat float32 observations, copied
  infos, frames) is applied by default. A bare name is only read as POPGym when no other
  registered id matches it.
- Any other registered Gymnasium id (``CartPole-v1``): plain ``gymnasium.make``.

``wrappers`` (suite-file specs, see :mod:`memrl.envs.wrappers`) are applied after the standard
wrapper, first spec innermost. Naming the standard wrapper in ``wrappers`` only sets its keyword
arguments (e.g. ``{"name": "popgym", "previous_action": true}``): it is still applied first,
and never twice.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym

from memrl.checks import check_choice, check_int
from memrl.envs.minigrid_wrappers import check_view_size
from memrl.envs.wrappers import (
    POPGYM_PREFIX,
    WrapperSpec,
    apply_wrapper,
    apply_wrappers,
    make_popgym,
    resolve_popgym_id,
    wrapper_spec_names,
)

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["EnvKind", "env_kind", "make", "make_vec"]

EnvKind = Literal["memrl", "minigrid", "popgym", "gymnasium"]

_MINIGRID_PREFIXES = ("MiniGrid-", "BabyAI-")


def _import_third_party_registrations() -> None:
    import minigrid  # noqa: F401  (registers MiniGrid-... and BabyAI-...)
    import popgym  # noqa: F401  (registers popgym-...)


def _unknown_id(env_id: str) -> ValueError:
    _import_third_party_registrations()
    known = list(gym.registry)
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
    if not close:
        bare = {name.removeprefix(POPGYM_PREFIX): name for name in known}
        close = [bare[m] for m in difflib.get_close_matches(env_id, list(bare), n=5, cutoff=0.6)]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return ValueError(
        f"unknown environment id {env_id!r}{hint}. Accepted: memrl/... ids "
        "(memrl.envs.registered_ids()), MiniGrid-..., popgym-... (prefix optional) or any "
        "registered Gymnasium id"
    )


def _resolve(env_id: str) -> tuple[str, EnvKind]:
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"environment id must be a non-empty string, got {env_id!r}")
    if env_id.startswith("memrl/"):
        if env_id not in gym.registry:
            raise _unknown_id(env_id)
        return env_id, "memrl"
    if env_id.startswith(_MINIGRID_PREFIXES):
        import minigrid  # noqa: F401
    if env_id.startswith(POPGYM_PREFIX):
        try:
            return resolve_popgym_id(env_id), "popgym"
        except ValueError:
            raise _unknown_id(env_id) from None
    if env_id not in gym.registry:
        _import_third_party_registrations()
    if env_id in gym.registry:
        entry_point = gym.spec(env_id).entry_point
        module = entry_point if isinstance(entry_point, str) else entry_point.__module__
        return env_id, "minigrid" if module.startswith("minigrid") else "gymnasium"
    try:
        return resolve_popgym_id(env_id), "popgym"
    except ValueError:
        raise _unknown_id(env_id) from None


def env_kind(env_id: str) -> EnvKind:
    """Which kind of id ``env_id`` is (see the module docstring); ValueError if unknown."""
    return _resolve(env_id)[1]


def make(
    env_id: str,
    render_mode: str | None = None,
    wrappers: Sequence[WrapperSpec] | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Make one environment with its standard wrapper and the given ``wrappers``.

    Args:
        env_id: a ``memrl/``, MiniGrid, POPGym (``popgym-`` prefix optional) or other
            registered Gymnasium id.
        render_mode: ``None`` or ``"rgb_array"`` (frames for replays).
        wrappers: wrapper specs applied after the standard wrapper, e.g.
            ``["flatten", {"name": "history_window", "k": 8}]``.
        **kwargs: environment constructor arguments and ``gymnasium.make`` options such as
            ``max_episode_steps``. For MiniGrid, ``view_size`` / ``agent_view_size`` set the
            agent's view (odd, >= 3).

    Returns:
        The wrapped environment.

    Raises:
        ValueError: unknown id (with close matches), unknown wrapper, bad wrapper arguments,
            or ``view_size`` given for a non-MiniGrid id.
    """
    resolved, kind = _resolve(env_id)
    standard_kwargs, wrappers = _split_standard(kind, wrappers)
    view_size = _pop_view_size(kwargs)
    if view_size is not None and kind != "minigrid":
        raise ValueError(f"view_size/agent_view_size only applies to MiniGrid ids, not {env_id!r}")

    if kind == "popgym":
        if standard_kwargs.get("render_mode") is not None:
            render_mode = render_mode or standard_kwargs["render_mode"]
        standard_kwargs.pop("render_mode", None)
        unknown = sorted(set(standard_kwargs) - {"flatten", "previous_action"})
        if unknown:
            raise ValueError(
                f"wrapper 'popgym': bad arguments {unknown}; "
                "accepted: flatten, previous_action, render_mode"
            )
        env = make_popgym(resolved, render_mode=render_mode, **standard_kwargs, **kwargs)
    elif kind == "minigrid":
        wrapper_view = _pop_view_size(standard_kwargs)
        if standard_kwargs:
            raise ValueError(
                f"wrapper 'minigrid': bad arguments {sorted(standard_kwargs)}; accepted: view_size"
            )
        if view_size is not None and wrapper_view is not None and view_size != wrapper_view:
            raise ValueError(
                f"view size {view_size} (kwargs) and {wrapper_view} (minigrid wrapper) disagree"
            )
        view_size = view_size if view_size is not None else wrapper_view
        if view_size is not None:
            kwargs["agent_view_size"] = view_size
        env = gym.make(resolved, render_mode=render_mode, **kwargs)
        env = apply_wrapper(env, "minigrid")
    else:
        env = gym.make(resolved, render_mode=render_mode, **kwargs)
    return apply_wrappers(env, wrappers)


def _split_standard(
    kind: EnvKind, wrappers: Sequence[WrapperSpec] | None
) -> tuple[dict[str, Any], list[WrapperSpec]]:
    """Take the kind's standard wrapper out of ``wrappers``: (its kwargs, the other specs)."""
    standard = {"minigrid": "minigrid", "popgym": "popgym"}.get(kind)
    names = wrapper_spec_names(wrappers)
    specs = list(wrappers or [])
    if standard is None or standard not in names:
        return {}, specs
    if names.count(standard) > 1:
        raise ValueError(f"wrapper {standard!r} is named more than once")
    index = names.index(standard)
    spec = specs.pop(index)
    kwargs = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
    return kwargs, specs


def _pop_view_size(kwargs: dict[str, Any]) -> int | None:
    view_size = kwargs.pop("view_size", None)
    agent_view_size = kwargs.pop("agent_view_size", None)
    if view_size is not None and agent_view_size is not None and view_size != agent_view_size:
        raise ValueError(
            f"view_size={view_size} and agent_view_size={agent_view_size} disagree; give one"
        )
    size = view_size if view_size is not None else agent_view_size
    return None if size is None else check_view_size(size)


def make_vec(
    env_id: str,
    n_envs: int,
    seed: int = 0,
    vec_env: Literal["dummy", "subproc"] = "dummy",
    wrappers: Sequence[WrapperSpec] | None = None,
    render_mode: str | None = None,
    **kwargs: Any,
) -> VecEnv:
    """``n_envs`` copies of :func:`make` ``(env_id, ...)`` as a Stable-Baselines3 ``VecEnv``.

    Each copy is wrapped (outermost) in SB3's ``Monitor``, so episode returns and lengths reach
    ``info["episode"]`` and SB3's logger (``rollout/ep_rew_mean``).

    Seeding, for reproducible runs: copy ``i`` is reset with seed ``seed + i`` at the first
    ``reset()`` and its action space is seeded with ``seed + i``; later episodes continue each
    copy's own random stream, so the same ``seed`` and the same actions give the same
    observations and rewards.

    Episode starts: SB3's VecEnvs reset a copy in the same ``step`` in which its episode ends.
    ``obs, rewards, dones, infos = venv.step(actions)`` then returns, for a copy with
    ``dones[i]``, the FIRST observation of its next episode in ``obs[i]``, and the last
    observation of the finished episode in ``infos[i]["terminal_observation"]``
    (``infos[i]["TimeLimit.truncated"]`` says whether it was a truncation). This is Gymnasium
    1.x's ``AutoresetMode.SAME_STEP``, not its default ``NEXT_STEP``. Hence the episode start
    flag for the observation returned by step t is ``dones[t]`` (and all ones after
    ``reset()``): a recurrent policy resets its state where ``episode_starts = dones`` before
    processing that observation, exactly as SB3's own rollout collection stores
    ``self._last_episode_starts = dones``.

    Args:
        env_id, wrappers, render_mode, **kwargs: as for :func:`make`.
        n_envs: number of copies, >= 1.
        seed: base seed.
        vec_env: ``"dummy"`` (all copies in this process; fastest for cheap envs) or
            ``"subproc"`` (one process per copy).
    """
    # Imported here so that `import memrl` does not pay for Stable-Baselines3.
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    n_envs = check_int("n_envs", n_envs, minimum=1)
    vec_env_classes = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}
    check_choice("vec_env", vec_env, vec_env_classes)
    # Fail fast in this process (a bad id or wrapper would otherwise surface inside workers).
    make(env_id, render_mode=render_mode, wrappers=wrappers, **kwargs).close()
    env_factory = functools.partial(
        make, env_id, render_mode=render_mode, wrappers=list(wrappers or []), **kwargs
    )
    return make_vec_env(env_factory, n_envs=n_envs, seed=seed, vec_env_cls=vec_env_classes[vec_env])
