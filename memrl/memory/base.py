"""The recurrent-core contract every memory module follows, and helpers for its state.

A core is an ``nn.Module`` that keeps no episode state on ``self``: the state is a
``typing.NamedTuple`` of tensors (batch dimension first) passed in and returned by
``forward``. That makes a core usable unchanged by a rollout loop (``T == 1``), a
training unroll over stored sequences (``T == seq_len``) and a recorder that looks at
the state after each step (``read_trace``).

Shape legend used in this package:
    T  time steps            B  batch (environments x sequences)
    F  input features        O  output features
    N  memory slots          W  slot size
    R  read heads            Wh write heads
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from memrl.checks import CheckError, show

State = TypeVar("State", bound=tuple)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_mode(compile: bool | str) -> str | None:
    """The torch.compile mode a ``compile`` option asks for: ``False`` -> ``None`` (eager),
    ``True`` -> ``"default"``, a mode name (``COMPILE_MODES``) -> itself.

    Raises:
        ValueError: ``"compile must be True, False or one of (...), got ..."``.
    """
    if isinstance(compile, bool):
        return "default" if compile else None
    if isinstance(compile, str) and compile in COMPILE_MODES:
        return compile
    raise CheckError("compile", f"True, False or one of {COMPILE_MODES!r}", show(compile))


@dataclass(frozen=True)
class Recall:
    """What one step of a core read and wrote, for recording (never used in training).

    Fields a core does not have are ``None``: LSTM/GRU return an empty ``Recall``.

    Attributes:
        read_weights: ``[B, R, N]`` read weighting over slots (NTM, DNC, MemNet).
        write_weights: ``[B, Wh, N]`` write weighting over slots (NTM, DNC, MemNet).
        read_keys: ``[B, R, K]`` read keys (MNM: recall compares them with past write keys).
        write_keys: ``[B, Wh, K]`` write keys (MNM).
        write_values: ``[B, Wh, V]`` target values written with those keys (MNM: v_w, the
            values the write moves f_φ(k_w) towards).
        write_strengths: ``[B, Wh]`` write rate beta (MNM).
        usage: ``[B, N]`` fraction of each slot in use (DNC).
    """

    read_weights: Tensor | None = None
    write_weights: Tensor | None = None
    read_keys: Tensor | None = None
    write_keys: Tensor | None = None
    write_values: Tensor | None = None
    write_strengths: Tensor | None = None
    usage: Tensor | None = None

    @property
    def has_slots(self) -> bool:
        """True when reads are weightings over memory slots (NTM, DNC, MemNet)."""
        return self.read_weights is not None


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply ``fn`` field by field to one or more states of the same NamedTuple type.

    Fields that are themselves NamedTuples (e.g. separate actor and critic core states)
    are mapped recursively.
    """
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    mapped = (map_state(fn, *fields) for fields in zip(*states, strict=True))
    return type(first)(*mapped) if hasattr(first, "_fields") else type(first)(mapped)


def reset_where(mask: Tensor, state: State, initial: State) -> State:
    """Replace the batch elements of ``state`` where ``mask`` is true by those of ``initial``.

    Args:
        mask: ``[B]`` bool (or 0/1 float): 1 where an episode starts.
        state: any NamedTuple of ``[B, ...]`` tensors.
        initial: the same NamedTuple type; fields may be broadcastable (e.g. ``[1, ...]``
            or an ``expand``-ed learned parameter).
    Returns:
        A state of the same type; gradients flow through both branches.
    """
    mask = mask.to(torch.bool)

    def select(current: Tensor, fresh: Tensor) -> Tensor:
        shaped = mask.view(mask.shape[0], *([1] * (current.dim() - 1)))
        return torch.where(shaped, fresh, current)

    return map_state(select, state, initial)


def detach(state: State) -> State:
    """Cut the state from the graph (truncated backpropagation through time)."""
    return map_state(Tensor.detach, state)


def state_to(state: State, device: torch.device | str) -> State:
    """Move every field of a state to ``device``."""
    return map_state(lambda t: t.to(device), state)


def index_state(state: State, index: Tensor | slice | int) -> State:
    """Select batch elements: ``index`` applies to the first dimension of every field."""
    return map_state(lambda t: t[index], state)


def cat_states(states: list[State]) -> State:
    """Concatenate states along the batch dimension."""
    return map_state(lambda *ts: torch.cat(ts, dim=0), *states)


def steps_with_starts(episode_starts: Tensor | None, steps: int) -> list[bool]:
    """For each of ``steps`` steps: may an episode start there (``episode_starts [T, B]``)?

    Lets an unroll skip ``reset_where`` (a ``torch.where`` over the whole state) at the
    steps where no element resets, which in training is nearly all of them. For ``T > 1``
    this reads ``episode_starts`` on the host once per sequence (free on the CPU, one
    transfer per minibatch on a GPU); a single step (rollouts) is not looked at, so
    collection never waits for the device: it resets where the mask says, as before.
    """
    if episode_starts is None:
        return [False] * steps
    if steps == 1:
        return [True]
    return episode_starts.detach().any(dim=1).tolist()


def unroll_steps(
    step: Callable[[Tensor, State], tuple[Tensor, State]],
    inputs: Sequence[Tensor],
    state: State,
    episode_starts: Tensor | None,
    reset: Callable[[Tensor, State], State],
) -> tuple[Tensor, State]:
    """Run ``step(input_t, state) -> (y_t, state)`` over the T per-step ``inputs``.

    Before a step where an episode starts (``episode_starts [T, B]``), ``reset(mask [B],
    state)`` gives the state to step from; it is not called at the other steps (see
    :func:`steps_with_starts`).

    Returns:
        ``(y [T, B, O], the state after the last step)``.
    """
    resets = steps_with_starts(episode_starts, len(inputs))
    outputs = []
    for t, step_input in enumerate(inputs):
        if resets[t]:
            state = reset(episode_starts[t], state)
        y, state = step(step_input, state)
        outputs.append(y)
    return torch.stack(outputs), state


def module_device_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of a module's first parameter (cpu/float32 if none)."""
    for p in module.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _overrides(cls: type, name: str) -> bool:
    """True when ``cls`` (or a base class below ``MemoryCore``) replaces ``MemoryCore.<name>``."""
    return getattr(cls, name) is not getattr(MemoryCore, name)


class MemoryCore(nn.Module, abc.ABC):
    """Base class of every recurrent core (memories and the LSTM/GRU baselines).

    Subclasses set ``input_size`` and ``output_size``, implement ``initial_state`` and
    one of two forms; the base class derives the other:

    - step form: ``step(x [B, F], state) -> (y [B, O], state)``; ``forward`` and
      ``unroll`` run it over time and apply the episode starts.
    - sequence form: ``forward(x [T, B, F], state, episode_starts) -> (y [T, B, O], state)``
      (or ``unroll``, which also returns the auxiliary loss); ``step`` is the sequence
      form over ``T == 1``. ``episode_starts`` may be ``None`` (no resets).

    A step-form core with a faster whole-sequence path (e.g. cuDNN LSTM) also overrides
    ``unroll``. A core implementing neither form cannot be constructed (``TypeError``).
    """

    input_size: int
    output_size: int
    # torch.compile mode of the per-step functions (set_compile); None: eager.
    compile_mode: str | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> MemoryCore:
        if not (_overrides(cls, "step") or _overrides(cls, "forward") or _overrides(cls, "unroll")):
            raise TypeError(
                f"{cls.__name__} implements no form of a core: define either "
                "step(x [B, F], state) -> (y [B, O], state) or "
                "forward(x [T, B, F], state, episode_starts) -> (y [T, B, O], state)"
            )
        return super().__new__(cls)

    @abc.abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> Any:
        """The state at an episode start: a NamedTuple of ``[batch_size, ...]`` tensors.

        Learned initial values are broadcast with ``expand`` (no copy), so gradients reach
        them. ``device`` defaults to the device of the core's parameters.
        """

    def set_compile(self, mode: str | None = "default") -> None:
        """Compile the per-step function(s) with ``torch.compile(mode=mode)`` from now on
        (``None``: back to eager). The recurrence stays a Python loop over compiled steps,
        so the compile cost does not grow with the sequence length.

        ``mode`` is torch.compile's: ``"default"``, ``"reduce-overhead"`` (CUDA graphs on
        a GPU) or ``"max-autotune"``. Inductor keeps compiled code in its on-disk cache, so
        a second process with the same shapes starts in seconds instead of a minute.

        Only calls with autograd on (the training unroll) run compiled: that is where the
        per-operation cost is paid twice, forward and backward. Calls without autograd
        (rollout steps, evaluation) stay eager, so the compiled code sees one grad mode and
        the training batch shape instead of recompiling for every rollout batch size.
        """
        if mode is not None and mode not in COMPILE_MODES:
            raise ValueError(f"compile mode must be one of {COMPILE_MODES} or None, got {mode!r}")
        self.compile_mode = mode
        self._compiled_steps: dict[str, Callable[..., Any]] = {}

    def compiled(self, name: str) -> Callable[..., Any]:
        """The bound method ``name`` (a per-step function of this core), compiled when
        :meth:`set_compile` asked for it and autograd is on, else the method itself."""
        method = getattr(self, name)
        if self.compile_mode is None or not torch.is_grad_enabled():
            return method
        if name not in self._compiled_steps:
            self._compiled_steps[name] = torch.compile(method, mode=self.compile_mode)
        return self._compiled_steps[name]

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One time step: ``x [B, F]`` and the previous state -> ``(y [B, O], state)``.

        Derived for a sequence-form core: its ``forward`` over ``T == 1``, no reset.
        """
        if x.dim() != 2:
            raise ValueError(
                f"{type(self).__name__}.step expects x of shape [B, {self.input_size}], "
                f"got {list(x.shape)}"
            )
        y, state = self(x.unsqueeze(0), state)
        return y.squeeze(0), state

    def read_trace(self, state: Any) -> Recall | None:
        """What the step that produced ``state`` read and wrote, for recording only.

        Default: an empty ``Recall`` (nothing addressable). A user core may also return
        ``None`` (or not define it at all): the step then records no recall.
        """
        return Recall()

    def step_loss(self, state: Any) -> Tensor | None:
        """An auxiliary loss ``[B]`` of the step that produced ``state`` (MNM's meta loss).

        ``None`` for cores without one; the algorithm adds it with a coefficient.
        """
        return None

    def forward(
        self, x: Tensor, state: Any, episode_starts: Tensor | None = None
    ) -> tuple[Tensor, Any]:
        """Unroll the core over a sequence.

        Args:
            x: ``[T, B, F]`` inputs.
            state: the state before the first step (batch ``B``).
            episode_starts: ``[T, B]``, 1 where an episode begins at that step: the element's
                state is replaced by the initial state *before* the step.
        Returns:
            ``(y [T, B, O], state after the last step)``.
        """
        y, state, _ = self.unroll(x, state, episode_starts)
        return y, state

    def unroll(
        self,
        x: Tensor,
        state: Any,
        episode_starts: Tensor | None = None,
        with_loss: bool = False,
    ) -> tuple[Tensor, Any, Tensor | None]:
        """Like ``forward``, also returning the per-step auxiliary loss ``[T, B]`` if asked
        (``None`` when the core has none or ``with_loss`` is false)."""
        self.check_sequence(x, episode_starts)
        cls = type(self)
        with_loss = with_loss and _overrides(cls, "step_loss")
        # A sequence-form core runs its own forward; it is stepped (T == 1 at a time) only
        # when it defines step_loss, which needs the state after every step.
        if not _overrides(cls, "step") and not with_loss:
            y, state = self(x, state, episode_starts)
            return y, state, None
        step = self.compiled("step")
        losses = []

        def step_keeping_loss(x_t: Tensor, state: Any) -> tuple[Tensor, Any]:
            y, state = step(x_t, state)
            if with_loss:
                losses.append(self.step_loss(state))
            return y, state

        y, state = unroll_steps(
            step_keeping_loss,
            # unbind, not x[t]: each x[t]'s backward would fill a zero tensor as large as x.
            x.unbind(0),
            state,
            episode_starts,
            self.initial_reset(x.shape[1], x.device),
        )
        loss = torch.stack(losses) if with_loss and losses and losses[0] is not None else None
        return y, state, loss

    def initial_reset(
        self, batch_size: int, device: torch.device | str | None
    ) -> Callable[[Tensor, Any], Any]:
        """The ``reset`` of :func:`unroll_steps` for this core: the initial state where
        ``mask [B]`` is set, built at the first reset of the sequence (most have none)."""
        initial = functools.cache(lambda: self.initial_state(batch_size, device))
        return lambda mask, state: reset_where(mask, state, initial())

    def check_sequence(self, x: Tensor, episode_starts: Tensor | None) -> None:
        """Raise a ``ValueError`` naming the problem when the inputs break the contract."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects x of shape [T, B, {self.input_size}], "
                f"got {list(x.shape)}"
            )
        if episode_starts is not None and tuple(episode_starts.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"episode_starts must have shape [T, B] = {list(x.shape[:2])}, "
                f"got {list(episode_starts.shape)}"
            )
