"""Metalearned Neural Memory (MNM): the memory is a small MLP whose weights are written to.

Munkhdalai, Sordoni, Wang, Trischler, "Metalearned Neural Memory", NeurIPS 2019.

The memory f_φ maps keys to values: ``K -> D -> ... -> D -> V`` with ``memory_layers``
affine layers, tanh on the hidden layers and a linear output. Its parameters φ are *fast
weights*: one copy per batch element, kept in the state, reset to learned slow weights at
each episode start. An LSTM controller emits, per head, a write key k_w, a write value v_w,
a write rate β and a read key k_r. Each step first writes (changes φ so that f(k_w) moves
towards v_w), then reads v_r = f_φ'(k_r) with the updated weights.

Two writes:

- ``update="gradient"`` (MNM-g): ``write_steps`` gradient steps ``φ ← φ − β ∂L/∂φ`` on
  the write loss ``L = Σ_h ||f_φ(k_w,h) − v_w,h||²``, each head with its own (normalised,
  see below) step size β_h. The gradient is computed by a hand-written backward pass
  through the tanh MLP (``memory_gradients``), so the write works under
  ``torch.no_grad()`` (rollouts) and stays in the graph when autograd is on: training
  differentiates through the write (second order, like ``create_graph=True``), so the
  controller learns what to write.
- ``update="local"`` (MNM-p): no backpropagation through f. Target activations z'_l are
  predicted top-down by learned backward feedback prediction functions,
  ``z'_L = v_w`` and ``z'_l = tanh(Q_l z'_{l+1} + q_l)`` for the hidden layers, and every
  layer moves its output towards its target by the delta (perceptron) rule
  ``W_l ← W_l + β (z'_l − z_l) z_{l−1}ᵀ``, ``b_l ← b_l + β (z'_l − z_l)`` (step normalised,
  see below), with z_l the layer's activations on k_w before the write. The rule is
  differentiable, so Q_l, q_l and the controller are trained end to end. As in the paper
  the target of the last layer is v_w itself and the feedback functions are one affine map
  plus a nonlinearity each (tanh here, matching the hidden activations).

Numerical safety (a departure from the paper's plain step, found necessary in tests). Keys
are tanh-bounded and scaled to unit L2 norm, values are tanh-bounded, and the step size is
normalised like the normalised LMS rule: with the plain step ``β ∂L/∂φ`` the change of the
output grows with the squared norm of every layer's input, so for β above ~0.1-0.5
(depending on the width D) repeated writes overshoot, oscillate and reach inf/NaN within a
few hundred steps. So:

- MNM-g uses the per-head step size ``η_h = β_h / n_h`` with
  ``n_h = Σ_l (1 + ||z_{l−1,h}||²)``, the squared norm of all layers' inputs (plus 1 per
  bias) on k_w,h: each step is the gradient of ``Σ_h η_h ||f_φ(k_w,h) − v_w,h||²`` with
  η_h taken as a constant step size (it stays in the graph for the meta gradient).
- MNM-p divides each layer's step by ``1 + ||z_{l−1,h}||²``, so with one head each
  layer's pre-activation on k_w changes by exactly ``β (z'_l − z_l)``: the linear output
  layer alone moves the fraction β of the way to v_w.

Several write heads add their changes.

The functions below (``memory_forward``, ``memory_gradients``, ``gradient_write``,
``local_write``) are the reference maths. The core's step runs the same maths as one
autograd node with a hand-derived backward pass (``memrl.memory.mnm_kernels``, checked
against these functions in the tests): some 60 small tensor operations per step instead of
over 100, and few autograd nodes.

The meta loss (the paper's reconstruction loss after the write, which trains the
controller and the update rule to write things that stick) is
``mean_{h, v} (f_φ'(k_w) − v_w)²`` per batch element; it is kept in the state and returned
by ``step_loss``; the algorithm adds it to its loss with a coefficient.

Einsum legend: b batch, h heads (read or write), i layer input units, o layer output units.
Shapes: B batch, C controller size, K key size, V value size, D memory hidden width,
R read heads, Wh write heads, P number of fast weights (all layers, packed).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from memrl.checks import check_choice, check_int
from memrl.memory import lstm_kernels, mnm_kernels
from memrl.memory.base import (
    MemoryCore,
    Recall,
    module_device_dtype,
    unroll_steps,
)
from memrl.memory.mnm_kernels import MemorySpec, memory_step
from memrl.memory.registry import register_core

UPDATES = ("gradient", "local")


class MNMState(NamedTuple):
    """State of the MNM core after a step.

    Attributes:
        controller_h: ``[B, C]`` LSTM controller hidden state h_t.
        controller_c: ``[B, C]`` LSTM controller cell state.
        read_values: ``[B, R, V]`` values read this step, v_r = f_φ_t(k_r) (fed back to the
            controller at the next step).
        fast_weights: ``[B, P]`` the memory φ_t: every layer's weight ``[out, in]`` then
            bias ``[out]``, layer by layer, flattened (see ``MNM.unpack``).
        read_keys: ``[B, R, K]`` read keys k_r of this step.
        write_keys: ``[B, Wh, K]`` write keys k_w of this step.
        write_strengths: ``[B, Wh]`` write rates β of this step.
        meta_loss: ``[B]`` reconstruction error after the write, mean over heads and value
            dimensions of ``(f_φ_t(k_w) − v_w)²`` (0 in the initial state).
    """

    controller_h: Tensor
    controller_c: Tensor
    read_values: Tensor
    fast_weights: Tensor
    read_keys: Tensor
    write_keys: Tensor
    write_strengths: Tensor
    meta_loss: Tensor


def memory_forward(weights: list[Tensor], biases: list[Tensor], keys: Tensor) -> list[Tensor]:
    """Run the memory MLP f_φ on a batch of keys, keeping every layer's activations.

    Args:
        weights: per layer l, ``[B, out_l, in_l]`` fast weights W_l.
        biases: per layer l, ``[B, out_l]`` fast biases b_l.
        keys: ``[B, H, K]`` keys, H of them per batch element.
    Returns:
        ``[z_0, ..., z_L]``: z_0 = keys, z_l = tanh(W_l z_{l−1} + b_l) ``[B, H, out_l]`` for
        hidden layers, and the linear output z_L = f_φ(keys) ``[B, H, V]``.
    """
    activations = [keys]
    last = len(weights) - 1
    for index, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        pre = torch.einsum("bhi,boi->bho", activations[-1], weight) + bias.unsqueeze(1)
        activations.append(pre if index == last else torch.tanh(pre))
    return activations


def memory_gradients(
    weights: list[Tensor],
    biases: list[Tensor],
    keys: Tensor,
    values: Tensor,
    head_scales: Tensor | None = None,
    activations: list[Tensor] | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """The gradient of the weighted write loss, by an explicit backward pass.

    ``L = Σ_h s_h ||f_φ(k_h) − v_h||²`` per batch element (``s_h = head_scales``, 1 if
    None). Works without autograd (under ``torch.no_grad()``) and is itself differentiable,
    so a step ``φ − ∂L/∂φ`` can be backpropagated through (second-order gradients).

    Args:
        weights, biases: the fast weights, as in ``memory_forward``.
        keys: ``[B, H, K]``.
        values: ``[B, H, V]`` targets.
        head_scales: ``[B, H]`` per-head loss weights s_h.
        activations: ``memory_forward(weights, biases, keys)`` if already computed.
    Returns:
        ``(dL/dW_l [B, out_l, in_l] per layer, dL/db_l [B, out_l] per layer)``.
    """
    if activations is None:
        activations = memory_forward(weights, biases, keys)
    delta = 2.0 * (activations[-1] - values)  # dL/d(pre-activation of the output layer)
    if head_scales is not None:
        delta = delta * head_scales.unsqueeze(-1)
    grad_weights: list[Tensor] = []
    grad_biases: list[Tensor] = []
    for layer in range(len(weights) - 1, -1, -1):
        layer_input = activations[layer]
        grad_weights.append(torch.einsum("bho,bhi->boi", delta, layer_input))
        grad_biases.append(delta.sum(dim=1))
        if layer > 0:
            # through W_l, then through tanh: d tanh(a)/da = 1 − tanh(a)² = 1 − z²
            delta = torch.einsum("bho,boi->bhi", delta, weights[layer])
            delta = delta * (1.0 - layer_input * layer_input)
    return grad_weights[::-1], grad_biases[::-1]


def _input_norms(layer_input: Tensor) -> Tensor:
    """``1 + ||z||²`` per head: ``[B, H, I] -> [B, H]`` (the 1 is the bias input)."""
    return 1.0 + (layer_input * layer_input).sum(dim=-1)


def gradient_write(
    weights: list[Tensor],
    biases: list[Tensor],
    keys: Tensor,
    values: Tensor,
    rates: Tensor,
    steps: int = 1,
) -> tuple[list[Tensor], list[Tensor]]:
    """MNM-g write: ``steps`` normalised gradient steps of f_φ towards ``f(keys) = values``.

    Each step is ``φ ← φ − ∂/∂φ Σ_h η_h ||f_φ(k_h) − v_h||²`` with ``η_h = β_h / n_h``,
    ``n_h = Σ_l (1 + ||z_{l−1,h}||²)`` (see the module docstring).

    Args:
        weights, biases: the fast weights φ, as in ``memory_forward``.
        keys: ``[B, Wh, K]`` write keys k_w.
        values: ``[B, Wh, V]`` write values v_w.
        rates: ``[B, Wh]`` write rates β in (0, 1).
        steps: number of gradient steps.
    Returns:
        The written ``(weights, biases)``.
    """
    for _ in range(steps):
        activations = memory_forward(weights, biases, keys)
        normaliser = sum(_input_norms(z) for z in activations[:-1])
        grad_weights, grad_biases = memory_gradients(
            weights, biases, keys, values, rates / normaliser, activations
        )
        weights = [w - g for w, g in zip(weights, grad_weights, strict=True)]
        biases = [b - g for b, g in zip(biases, grad_biases, strict=True)]
    return weights, biases


def local_write(
    weights: list[Tensor],
    biases: list[Tensor],
    keys: Tensor,
    targets: list[Tensor],
    rates: Tensor,
    steps: int = 1,
) -> tuple[list[Tensor], list[Tensor]]:
    """MNM-p write: every layer moves towards its own target activations (delta rule).

    ``W_l ← W_l + Σ_h β_h / (1 + ||z_{l−1,h}||²) (z'_l,h − z_l,h) z_{l−1,h}ᵀ`` and the same
    for ``b_l`` with input 1, where z_l are the activations of f_φ on the keys.

    Args:
        weights, biases: the fast weights φ, as in ``memory_forward``.
        keys: ``[B, Wh, K]`` write keys k_w.
        targets: ``[z'_1, ..., z'_L]``, per layer ``[B, Wh, out_l]``; z'_L is v_w.
        rates: ``[B, Wh]`` write rates β in (0, 1).
        steps: number of applications of the rule (targets stay fixed).
    Returns:
        The written ``(weights, biases)``.
    """
    for _ in range(steps):
        activations = memory_forward(weights, biases, keys)
        new_weights, new_biases = [], []
        for layer, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
            layer_input = activations[layer]
            scale = (rates / _input_norms(layer_input)).unsqueeze(-1)
            error = (targets[layer] - activations[layer + 1]) * scale
            new_weights.append(weight + torch.einsum("bho,bhi->boi", error, layer_input))
            new_biases.append(bias + error.sum(dim=1))
        weights, biases = new_weights, new_biases
    return weights, biases


def _reset_recurrent(mask: Tensor, state: MNMState, initial_fast_weights: Tensor) -> MNMState:
    """``reset_where(mask, state, initial_state(B))`` on the fields a step reads, without
    building the initial state: it is zeros for the controller state and the reads, and the
    slow weights φ_0 for the memory. The other fields are outputs of the step and replaced
    by it, so resetting them would be wasted work."""
    mask = mask.to(torch.bool).view(-1, 1)
    return state._replace(
        controller_h=torch.where(mask, 0.0, state.controller_h),
        controller_c=torch.where(mask, 0.0, state.controller_c),
        read_values=torch.where(mask.unsqueeze(-1), 0.0, state.read_values),
        fast_weights=torch.where(mask, initial_fast_weights, state.fast_weights),
    )


@register_core("mnm")
class MNM(MemoryCore):
    """Metalearned Neural Memory core (MNM-g or MNM-p), see the module docstring.

    Each step: the LSTM controller reads ``[x_t; v_r,t−1]``; from its output h_t a linear
    interface gives, per write head, k_w (tanh, unit norm), v_w (tanh) and β (sigmoid),
    and per read head k_r (tanh, unit norm); the memory is written, then read; the output is
    ``y_t = [h_t; v_r,t]`` (``output_size = controller_size + read_heads * value_size``).

    Args:
        input_size: F, features per step.
        controller_size: C, LSTM controller width.
        key_size: K, key width (memory input).
        value_size: V, value width (memory output); defaults to ``key_size``.
        memory_hidden: D, width of the memory's hidden layers; defaults to ``2 * key_size``.
        memory_layers: L >= 1 affine layers of the memory (L − 1 hidden tanh layers).
        read_heads: R read keys per step. Independent of ``write_heads``.
        write_heads: Wh (k_w, v_w, β) triples per step; their changes add.
        update: ``"gradient"`` (MNM-g) or ``"local"`` (MNM-p, learned local rule).
        write_steps: updates applied per write.
    """

    def __init__(
        self,
        input_size: int,
        controller_size: int = 128,
        key_size: int = 32,
        value_size: int | None = None,
        memory_hidden: int | None = None,
        memory_layers: int = 3,
        read_heads: int = 1,
        write_heads: int = 1,
        update: str = "gradient",
        write_steps: int = 1,
    ) -> None:
        super().__init__()
        input_size = check_int("input_size", input_size, minimum=1)
        controller_size = check_int("controller_size", controller_size, minimum=1)
        key_size = check_int("key_size", key_size, minimum=1)
        value_size = key_size if value_size is None else value_size
        value_size = check_int("value_size", value_size, minimum=1)
        memory_hidden = 2 * key_size if memory_hidden is None else memory_hidden
        memory_hidden = check_int("memory_hidden", memory_hidden, minimum=1)
        memory_layers = check_int("memory_layers", memory_layers, minimum=1)
        read_heads = check_int("read_heads", read_heads, minimum=1)
        write_heads = check_int("write_heads", write_heads, minimum=1)
        write_steps = check_int("write_steps", write_steps, minimum=1)
        update = check_choice("update", update, UPDATES)
        self.input_size = input_size
        self.controller_size = controller_size
        self.key_size = key_size
        self.value_size = value_size
        self.memory_hidden = memory_hidden
        self.memory_layers = memory_layers
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.update = update
        self.write_steps = write_steps
        self.output_size = controller_size + read_heads * value_size
        # widths z_0 .. z_L of the memory MLP
        self.layer_sizes = [key_size] + [memory_hidden] * (memory_layers - 1) + [value_size]

        self.controller = nn.LSTMCell(input_size + read_heads * value_size, controller_size)
        self.spec = MemorySpec(
            tuple(self.layer_sizes), write_heads, read_heads, update, write_steps
        )
        # widths of k_w, v_w, β and k_r in the interface vector
        self._interface_sizes = self.spec.interface_sizes
        self.interface = nn.Linear(controller_size, sum(self._interface_sizes))
        # Slow weights φ_0, packed like MNMState.fast_weights; nn.Linear's default init.
        pieces = []
        for fan_in, fan_out in itertools.pairwise(self.layer_sizes):
            bound = 1.0 / math.sqrt(fan_in)
            pieces.append(torch.empty(fan_out * fan_in).uniform_(-bound, bound))
            pieces.append(torch.empty(fan_out).uniform_(-bound, bound))
        self.initial_fast_weights = nn.Parameter(torch.cat(pieces))
        # MNM-p feedback prediction functions: feedback[l - 1] maps z'_{l+1} to z'_l.
        self.feedback = nn.ModuleList()
        if update == "local":
            self.feedback.extend(
                nn.Linear(self.layer_sizes[layer + 1], self.layer_sizes[layer])
                for layer in range(1, memory_layers)
            )

    @property
    def num_fast_weights(self) -> int:
        """P, the number of memory parameters per batch element."""
        return self.initial_fast_weights.numel()

    def unpack(self, fast_weights: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Split ``[B, P]`` fast weights into per-layer ``W_l [B, out, in]``, ``b_l [B, out]``."""
        return mnm_kernels.unpack(fast_weights, self.spec)

    @staticmethod
    def pack(weights: list[Tensor], biases: list[Tensor]) -> Tensor:
        """Inverse of ``unpack``: per-layer weights and biases -> ``[B, P]``."""
        return mnm_kernels.pack(weights, biases)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> MNMState:
        """Zero controller state and reads; fast weights φ_0 broadcast from the slow weights."""
        default_device, dtype = module_device_dtype(self)
        device = default_device if device is None else torch.device(device)

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(batch_size, *shape, device=device, dtype=dtype)

        fast = self.initial_fast_weights.to(device).unsqueeze(0).expand(batch_size, -1)
        return MNMState(
            controller_h=zeros(self.controller_size),
            controller_c=zeros(self.controller_size),
            read_values=zeros(self.read_heads, self.value_size),
            fast_weights=fast,
            read_keys=zeros(self.read_heads, self.key_size),
            write_keys=zeros(self.write_heads, self.key_size),
            write_strengths=zeros(self.write_heads),
            meta_loss=zeros(),
        )

    def feedback_targets(self, values: Tensor) -> list[Tensor]:
        """MNM-p target activations ``[z'_1, ..., z'_L]`` predicted top-down from v_w.

        Args:
            values: ``[B, Wh, V]`` write values v_w (= z'_L).
        Returns:
            Per layer l ``[B, Wh, out_l]``: ``z'_l = tanh(Q_l z'_{l+1} + q_l)`` for hidden l.
        """
        targets = [values]
        for layer in range(self.memory_layers - 1, 0, -1):
            targets.insert(0, torch.tanh(self.feedback[layer - 1](targets[0])))
        return targets

    def write(
        self,
        weights: list[Tensor],
        biases: list[Tensor],
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Write ``(k_w [B, Wh, K], v_w [B, Wh, V])`` at rates β ``[B, Wh]`` by the core's rule."""
        if self.update == "gradient":
            return gradient_write(weights, biases, keys, values, rates, self.write_steps)
        targets = self.feedback_targets(values)
        return local_write(weights, biases, keys, targets, rates, self.write_steps)

    def step(self, x: Tensor, state: MNMState) -> tuple[Tensor, MNMState]:
        """One step: controller, write (k_w, v_w, β), then read v_r = f_φ_t(k_r).

        Args:
            x: ``[B, F]`` input x_t.
            state: the previous ``MNMState``.
        Returns:
            ``(y_t = [h_t; v_r,t] [B, C + R·V], new state)``.
        """
        gates = lstm_kernels.input_gates(self.controller, x)
        return self._step(gates, *self._loop_invariants(), state)

    def unroll(
        self,
        x: Tensor,
        state: MNMState,
        episode_starts: Tensor | None = None,
        with_loss: bool = False,
    ) -> tuple[Tensor, MNMState, Tensor | None]:
        """``MemoryCore.unroll`` with the loop-invariant work done once per sequence: the
        input part of the controller's gates for all T steps in one matrix product, the
        controller's weight slices, the feedback parameters. Resets touch only the fields a
        step reads. Returns the meta loss ``[T, B]`` when ``with_loss``."""
        self.check_sequence(x, episode_starts)
        invariants = self._loop_invariants()
        step = self.compiled("_step")
        losses = []

        def step_keeping_loss(gates: Tensor, state: MNMState) -> tuple[Tensor, MNMState]:
            y, state = step(gates, *invariants, state)
            losses.append(state.meta_loss)
            return y, state

        y, state = unroll_steps(
            step_keeping_loss,
            # unbind, not [t]: one backward node for all steps' slices
            lstm_kernels.input_gates(self.controller, x).unbind(0),
            state,
            episode_starts,
            lambda mask, state: _reset_recurrent(mask, state, self.initial_fast_weights),
        )
        return y, state, torch.stack(losses) if with_loss else None

    def _loop_invariants(self) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """The controller's weights on the reads ``[4 C, R V]`` and on h ``[4 C, C]``, and the
        feedback parameters ``(Q_1, q_1, ..., Q_{L−1}, q_{L−1})`` (empty for MNM-g).

        Two weights rather than one on ``[v_r; h]``: no concatenation of the weights per call
        (a rollout step is a call) nor of the inputs per step."""
        reads_weight = self.controller.weight_ih[:, self.input_size :]
        return reads_weight, self.controller.weight_hh, tuple(self.feedback.parameters())

    def _step(
        self,
        input_gates: Tensor,
        reads_weight: Tensor,
        hidden_weight: Tensor,
        feedback: tuple[Tensor, ...],
        state: MNMState,
    ) -> tuple[Tensor, MNMState]:
        """The step of ``step`` after the controller's input projection
        (``input_gates [B, 4 C]``), with the loop invariants of ``_loop_invariants``; the
        memory step is one autograd node (``mnm_kernels.memory_step``)."""
        gates = torch.addmm(input_gates, state.read_values.flatten(1), reads_weight.t())
        h, c = lstm_kernels.lstm_step(gates, state.controller_h, hidden_weight, state.controller_c)
        fast, read_values, meta_loss, read_keys, write_keys, rates = memory_step(
            self.interface(h), state.fast_weights, feedback, self.spec
        )
        y = torch.cat([h, read_values.flatten(1)], dim=-1)
        return y, MNMState(
            controller_h=h,
            controller_c=c,
            read_values=read_values,
            fast_weights=fast,
            read_keys=read_keys,
            write_keys=write_keys,
            write_strengths=rates,
            meta_loss=meta_loss,
        )

    def read_trace(self, state: MNMState) -> Recall:
        """The read and write keys, write values and write rates of the step that produced
        ``state``.

        The write values v_w ``[B, Wh, V]`` are not carried in the state (every step of
        training would carry them for nothing): they are recomputed from ``controller_h``,
        the v_w rows of the interface squashed by tanh as the step squashed them, without
        autograd (a trace is for recording only).
        """
        start, width = self._interface_sizes[0], self._interface_sizes[1]
        weight = self.interface.weight[start : start + width]
        bias = self.interface.bias[start : start + width]
        with torch.no_grad():
            values = torch.addmm(bias, state.controller_h, weight.t()).tanh_()
        return Recall(
            read_keys=state.read_keys,
            write_keys=state.write_keys,
            write_values=values.view(-1, self.write_heads, self.value_size),
            write_strengths=state.write_strengths,
        )

    def step_loss(self, state: MNMState) -> Tensor:
        """The meta loss ``[B]`` of the step that produced ``state`` (0 for an initial state)."""
        return state.meta_loss
