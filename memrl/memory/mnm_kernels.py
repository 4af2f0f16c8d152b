"""The MNM memory step (interface squashing, write, read, meta loss) as one autograd node.

Per step, everything after the controller's interface projection, for both write rules of
``memrl.memory.mnm``, with a hand-written backward pass. The forward pass is the reference
maths of ``mnm.py`` (``memory_forward``, ``gradient_write``, ``local_write``,
``feedback_targets``) in batched matrix products; the unit tests check values and
gradients against those functions in float64 (and with ``gradcheck``).

MNM-g's write is itself a gradient, ``φ' = φ − ∂/∂φ Σ_h η_h ||f_φ(k_h) − v_h||²``, computed
by an explicit backward pass through the memory MLP. Training differentiates through it, so
the backward pass here is the second-order one: it backpropagates through that explicit
gradient (``_gradient_write_backward``). It is only needed once (``once_differentiable``):
the write's own gradient is forward maths, not an autograd ``grad`` call.

Notation (one batch element; all products are batched over B): layers l = 1..L,
``z_0 = k``, ``a_l = z_{l−1} W_lᵀ + b_l``, ``z_l = tanh(a_l)`` for l < L, ``z_L = a_L``;
``d_l = 1 − z_l²``; rows of a ``[B, H, ·]`` tensor are heads. A ``g``-prefixed name is the
gradient of the final loss with respect to the named quantity.

Shape legend:
    B batch    H heads    Wh write heads    R read heads    K key size    V value size
    P fast weights per batch element (all layers packed: W_1, b_1, W_2, b_2, ...)
    I interface width: Wh K (k_w) + Wh V (v_w) + Wh (β) + R K (k_r)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

# Keys are scaled to unit norm; the epsilon keeps an all-zero key (tanh(0)) finite and
# differentiable.
KEY_EPS = 1e-6


@dataclass(frozen=True)
class MemorySpec:
    """The sizes of an MNM memory step (hashable: a constant for torch.compile).

    Attributes:
        layer_sizes: widths ``z_0 .. z_L`` of the memory MLP (K first, V last).
        write_heads: Wh.
        read_heads: R.
        update: ``"gradient"`` (MNM-g) or ``"local"`` (MNM-p).
        write_steps: updates applied per write.
    """

    layer_sizes: tuple[int, ...]
    write_heads: int
    read_heads: int
    update: str
    write_steps: int

    @property
    def key_size(self) -> int:
        return self.layer_sizes[0]

    @property
    def value_size(self) -> int:
        return self.layer_sizes[-1]

    @property
    def interface_sizes(self) -> list[int]:
        """Widths of k_w, v_w, β and k_r in the interface vector."""
        wh = self.write_heads
        return [wh * self.key_size, wh * self.value_size, wh, self.read_heads * self.key_size]

    @property
    def piece_sizes(self) -> list[int]:
        """Widths of W_1, b_1, W_2, b_2, ... in the packed fast weights."""
        sizes = []
        for fan_in, fan_out in itertools.pairwise(self.layer_sizes):
            sizes.extend((fan_out * fan_in, fan_out))
        return sizes


def unpack(fast: Tensor, spec: MemorySpec) -> tuple[list[Tensor], list[Tensor]]:
    """``[B, P]`` -> per layer ``W_l [B, out, in]`` and ``b_l [B, out]`` (views)."""
    pieces = fast.split(spec.piece_sizes, dim=1)
    pairs = itertools.pairwise(spec.layer_sizes)
    weights = [
        p.reshape(fast.shape[0], o, i) for p, (i, o) in zip(pieces[0::2], pairs, strict=True)
    ]
    return weights, list(pieces[1::2])


def pack(weights: list[Tensor], biases: list[Tensor]) -> Tensor:
    """Inverse of ``unpack``: ``[B, P]``."""
    return torch.cat(
        [t.flatten(1) for pair in zip(weights, biases, strict=True) for t in pair], dim=1
    )


def _mlp(weights: list[Tensor], biases: list[Tensor], keys: Tensor) -> list[Tensor]:
    """``[z_0, ..., z_L]`` of the memory MLP on ``keys [B, H, K]`` (no autograd needed)."""
    activations = [keys]
    last = len(weights) - 1
    for layer, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
        pre = torch.baddbmm(bias.unsqueeze(1), activations[-1], weight.transpose(1, 2))
        activations.append(pre if layer == last else pre.tanh_())
    return activations


def _mlp_backward(
    weights: list[Tensor],
    activations: list[Tensor],
    grad_out: Tensor,
    grad_weights: list[Tensor],
    grad_biases: list[Tensor],
    grad_inputs: list[Tensor | None] | None = None,
) -> Tensor:
    """Backpropagate ``grad_out`` (of z_L) through ``_mlp``; returns the gradient of z_0.

    Adds to ``grad_weights``/``grad_biases`` (replaced by new tensors, per layer) and, when
    given, to ``grad_inputs[l]``: further gradients of z_l from outside the MLP.
    """
    grad_pre = grad_out
    for layer in range(len(weights), 0, -1):
        below = activations[layer - 1]
        grad_weights[layer - 1] = torch.baddbmm(
            grad_weights[layer - 1], grad_pre.transpose(1, 2), below
        )
        grad_biases[layer - 1] = grad_biases[layer - 1] + grad_pre.sum(dim=1)
        extra = None if grad_inputs is None else grad_inputs[layer - 1]
        if extra is None:
            grad_below = torch.bmm(grad_pre, weights[layer - 1])
        else:
            grad_below = torch.baddbmm(extra, grad_pre, weights[layer - 1])
        if layer > 1:
            grad_pre = torch.ops.aten.tanh_backward(grad_below, below)
    return grad_below


def _gradient_write_forward(
    weights: list[Tensor], biases: list[Tensor], keys: Tensor, values: Tensor, rates: Tensor
) -> tuple[list[Tensor], list[Tensor], tuple]:
    """One MNM-g step (``mnm.gradient_write`` with steps=1): new weights and the tape."""
    n_layers = len(weights)
    z = _mlp(weights, biases, keys)
    # n_h = Σ_l (1 + ||z_{l−1,h}||²), s_h = β_h / n_h
    inputs = torch.cat(z[:-1], dim=-1)
    normaliser = (inputs * inputs).sum(dim=-1) + n_layers
    scale = rates / normaliser
    residual = z[-1] - values
    deltas: list[Tensor] = [None] * (n_layers + 1)  # index l: δ_l [B, H, out_l]
    backs: list[Tensor] = [None] * n_layers  # index l: e_l = δ_{l+1} W_{l+1}
    deltas[n_layers] = residual * (2.0 * scale).unsqueeze(-1)
    for layer in range(n_layers - 1, 0, -1):
        backs[layer] = torch.bmm(deltas[layer + 1], weights[layer])
        deltas[layer] = torch.ops.aten.tanh_backward(backs[layer], z[layer])
    new_weights = [
        torch.baddbmm(w, d.transpose(1, 2), a, alpha=-1.0)
        for w, d, a in zip(weights, deltas[1:], z[:-1], strict=True)
    ]
    new_biases = [b - d.sum(dim=1) for b, d in zip(biases, deltas[1:], strict=True)]
    tape = (weights, z, deltas, backs, residual, scale, normaliser)
    return new_weights, new_biases, tape


def _gradient_write_backward(
    tape: tuple, grad_new_weights: list[Tensor], grad_new_biases: list[Tensor]
) -> tuple[list[Tensor], list[Tensor], Tensor, Tensor, Tensor]:
    """Backward of ``_gradient_write_forward``: gradients of (W_l, b_l, k, v, β).

    ``W'_l = W_l − δ_lᵀ z_{l−1}``, ``b'_l = b_l − Σ_h δ_l`` give ``gδ_l = −(z_{l−1} gW'_lᵀ +
    gb'_l)`` and ``gz_{l−1} ∋ −δ_l gW'_l``; then back through ``δ_l = (δ_{l+1} W_{l+1}) d_l``
    (l = 1 .. L−1, upwards), ``δ_L = 2 s (z_L − v)``, ``s = β / n`` and
    ``n = Σ_l (1 + ||z_{l−1}||²)``, and finally through the MLP's forward pass.
    """
    weights, z, deltas, backs, residual, scale, normaliser = tape
    n_layers = len(weights)
    grad_deltas = [None] + [
        torch.baddbmm(gb.unsqueeze(1), a, gw.transpose(1, 2), beta=-1.0, alpha=-1.0)
        for gb, a, gw in zip(grad_new_biases, z[:-1], grad_new_weights, strict=True)
    ]
    grad_weights = list(grad_new_weights)
    grad_biases = list(grad_new_biases)
    for layer in range(1, n_layers):
        grad_back = torch.ops.aten.tanh_backward(grad_deltas[layer], z[layer])  # gδ_l d_l
        grad_deltas[layer + 1] = torch.baddbmm(
            grad_deltas[layer + 1], grad_back, weights[layer].transpose(1, 2)
        )
        grad_weights[layer] = torch.baddbmm(
            grad_weights[layer], deltas[layer + 1].transpose(1, 2), grad_back
        )
    grad_top = grad_deltas[n_layers]
    grad_scale = 2.0 * (grad_top * residual).sum(dim=-1)
    grad_residual = grad_top * (2.0 * scale).unsqueeze(-1)
    grad_rates = grad_scale / normaliser
    grad_norm2 = (-2.0 * grad_scale * scale / normaliser).unsqueeze(-1)  # 2 gn
    # gz_l outside the MLP chain: from n (2 gn z_l), from G_{l+1} (−δ_{l+1} gW'_{l+1}) and
    # from d_l = 1 − z_l² (−2 z_l gd_l, gd_l = gδ_l e_l).
    grad_z: list[Tensor | None] = []
    for layer in range(n_layers):
        factor = grad_norm2
        if layer > 0:
            factor = torch.addcmul(grad_norm2, grad_deltas[layer], backs[layer], value=-2.0)
        grad_z.append(
            torch.baddbmm(z[layer] * factor, deltas[layer + 1], grad_new_weights[layer], alpha=-1.0)
        )
    grad_keys = _mlp_backward(weights, z, grad_residual, grad_weights, grad_biases, grad_z)
    return grad_weights, grad_biases, grad_keys, -grad_residual, grad_rates


def _local_write_forward(
    weights: list[Tensor],
    biases: list[Tensor],
    keys: Tensor,
    targets: list[Tensor],
    rates: Tensor,
) -> tuple[list[Tensor], list[Tensor], tuple]:
    """One MNM-p step (``mnm.local_write`` with steps=1): new weights and the tape."""
    z = _mlp(weights, biases, keys)
    norms = [1.0 + (a * a).sum(dim=-1) for a in z[:-1]]  # m_l = 1 + ||z_{l−1}||²
    coefficients = [rates / m for m in norms]  # c_l = β / m_l
    errors = [t - a for t, a in zip(targets, z[1:], strict=True)]  # u_l = z'_l − z_l
    scaled = [
        u * c.unsqueeze(-1) for u, c in zip(errors, coefficients, strict=True)
    ]  # E_l = c_l u_l
    new_weights = [
        torch.baddbmm(w, e.transpose(1, 2), a)
        for w, e, a in zip(weights, scaled, z[:-1], strict=True)
    ]
    new_biases = [b + e.sum(dim=1) for b, e in zip(biases, scaled, strict=True)]
    tape = (weights, z, norms, coefficients, errors, scaled)
    return new_weights, new_biases, tape


def _local_write_backward(
    tape: tuple, grad_new_weights: list[Tensor], grad_new_biases: list[Tensor]
) -> tuple[list[Tensor], list[Tensor], Tensor, list[Tensor], Tensor]:
    """Backward of ``_local_write_forward``: gradients of (W_l, b_l, k, z'_l, β).

    ``W'_l = W_l + E_lᵀ z_{l−1}``, ``b'_l = b_l + Σ_h E_l`` give ``gE_l = z_{l−1} gW'_lᵀ +
    gb'_l`` and ``gz_{l−1} ∋ E_l gW'_l``; ``E_l = c_l (z'_l − z_l)``, ``c_l = β / m_l``,
    ``m_l = 1 + ||z_{l−1}||²``; then back through the MLP's forward pass.
    """
    weights, z, norms, coefficients, errors, scaled = tape
    n_layers = len(weights)
    grad_targets, grad_rates = [], 0.0
    grad_z: list[Tensor | None] = [None] * (n_layers + 1)
    for layer in range(n_layers):
        grad_scaled = torch.baddbmm(
            grad_new_biases[layer].unsqueeze(1), z[layer], grad_new_weights[layer].transpose(1, 2)
        )
        grad_coefficient = (grad_scaled * errors[layer]).sum(dim=-1)
        grad_error = grad_scaled * coefficients[layer].unsqueeze(-1)
        grad_targets.append(grad_error)
        grad_rates = grad_rates + grad_coefficient / norms[layer]
        # through m_l: gz_{l−1} ∋ 2 gm z_{l−1} with gm = −gc c / m
        grad_norm2 = (-2.0 * grad_coefficient * coefficients[layer] / norms[layer]).unsqueeze(-1)
        from_rule = torch.baddbmm(z[layer] * grad_norm2, scaled[layer], grad_new_weights[layer])
        grad_z[layer] = from_rule if grad_z[layer] is None else grad_z[layer] + from_rule
        grad_z[layer + 1] = -grad_error
    grad_weights = list(grad_new_weights)
    grad_biases = list(grad_new_biases)
    grad_keys = _mlp_backward(weights, z, grad_z[-1], grad_weights, grad_biases, grad_z[:-1])
    return grad_weights, grad_biases, grad_keys, grad_targets, grad_rates


def _feedback_forward(values: Tensor, feedback: tuple[Tensor, ...]) -> list[Tensor]:
    """``[z'_1, ..., z'_L]``: ``z'_L = v``, ``z'_l = tanh(z'_{l+1} Q_lᵀ + q_l)``.

    ``feedback`` is ``(Q_1, q_1, ..., Q_{L−1}, q_{L−1})``, Q_l ``[out_l, out_{l+1}]``.
    """
    targets = [values]
    for layer in range(len(feedback) // 2, 0, -1):
        weight, bias = feedback[2 * layer - 2], feedback[2 * layer - 1]
        targets.insert(0, torch.tanh(torch.nn.functional.linear(targets[0], weight, bias)))
    return targets


def _feedback_backward(
    targets: list[Tensor], feedback: tuple[Tensor, ...], grad_targets: list[Tensor]
) -> tuple[Tensor, list[Tensor]]:
    """Backward of ``_feedback_forward``: ``(gradient of v, [gQ_1, gq_1, ...])``."""
    grads: list[Tensor] = [None] * len(feedback)
    grad_above = grad_targets[0]
    for layer in range(1, len(feedback) // 2 + 1):
        grad_pre = torch.ops.aten.tanh_backward(grad_above, targets[layer - 1]).flatten(0, 1)
        above = targets[layer].flatten(0, 1)
        grads[2 * layer - 2] = grad_pre.t() @ above
        grads[2 * layer - 1] = grad_pre.sum(dim=0)
        grad_above = grad_targets[layer] + (grad_pre @ feedback[2 * layer - 2]).view_as(
            targets[layer]
        )
    return grad_above, grads


def _memory_forward(
    interface: Tensor, fast: Tensor, feedback: tuple[Tensor, ...], spec: MemorySpec
) -> tuple[tuple[Tensor, ...], tuple]:
    """The step's maths without autograd: ``(outputs of memory_step, tape)``."""
    batch, wh = interface.shape[0], spec.write_heads
    raw_write_keys, raw_values, rate_logits, raw_read_keys = interface.split(
        spec.interface_sizes, dim=1
    )
    squashed_keys = torch.cat([raw_write_keys, raw_read_keys], dim=1).tanh_()
    squashed_keys = squashed_keys.view(batch, wh + spec.read_heads, spec.key_size)
    key_scale = torch.rsqrt((squashed_keys * squashed_keys).sum(dim=-1, keepdim=True) + KEY_EPS)
    keys = squashed_keys * key_scale
    values = torch.tanh(raw_values).view(batch, wh, spec.value_size)
    rates = torch.sigmoid(rate_logits)
    write_keys = keys[:, :wh]

    weights, biases = unpack(fast, spec)
    targets = _feedback_forward(values, feedback) if spec.update == "local" else None
    tapes = []
    for _ in range(spec.write_steps):
        if targets is None:
            weights, biases, tape = _gradient_write_forward(
                weights, biases, write_keys, values, rates
            )
        else:
            weights, biases, tape = _local_write_forward(
                weights, biases, write_keys, targets, rates
            )
        tapes.append(tape)
    # one pass of the written memory for both the meta loss and the read
    reads = _mlp(weights, biases, keys)
    recall_error = reads[-1][:, :wh] - values
    meta_loss = (recall_error * recall_error).mean(dim=(1, 2))
    outputs = (
        pack(weights, biases),
        reads[-1][:, wh:],
        meta_loss,
        keys[:, wh:],
        write_keys,
        rates,
    )
    # The written weights are not kept: the backward pass reads them from the packed output
    # (saved by the Function), so a step holds one copy of φ_t instead of two.
    tape = (squashed_keys, key_scale, keys, values, targets, tapes, reads, recall_error)
    return outputs, tape


class _MemoryStep(torch.autograd.Function):
    """``memory_step`` as one autograd node (see the module docstring)."""

    @staticmethod
    def forward(ctx, interface, fast, spec, *feedback):
        outputs, tape = _memory_forward(interface, fast, feedback, spec)
        ctx.spec = spec
        ctx.tape = tape
        ctx.feedback = feedback
        # Outputs go through save_for_backward: kept on ctx, they would form a reference cycle
        # (output -> its grad_fn -> ctx -> output) and leak every step's graph.
        ctx.save_for_backward(outputs[0], outputs[-1])
        ctx.set_materialize_grads(False)
        # The reads and keys are views of tensors the tape keeps: returned as views, they
        # would tie the tape to the outputs' graph in a reference cycle, so they are copied.
        fast, reads, meta_loss, read_keys, write_keys, rates = outputs
        return fast, reads.clone(), meta_loss, read_keys.clone(), write_keys.clone(), rates

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_fast, grad_reads, grad_meta, grad_read_keys, grad_write_keys, gr):
        spec: MemorySpec = ctx.spec
        squashed_keys, key_scale, keys, values, targets, tapes, reads, recall_error = ctx.tape
        fast, rates = ctx.saved_tensors
        weights, _ = unpack(fast, spec)
        wh = spec.write_heads
        batch = keys.shape[0]
        grad_rates = torch.zeros_like(rates) if gr is None else gr

        # the read pass on [k_w; k_r] through the written memory, and the meta loss
        if grad_meta is None:
            grad_recall = torch.zeros_like(values)
        else:
            grad_recall = recall_error * (grad_meta * (2.0 / (wh * spec.value_size))).view(-1, 1, 1)
        if grad_reads is None:
            grad_reads = torch.zeros_like(reads[-1][:, wh:])
        grad_out = torch.cat([grad_recall, grad_reads], dim=1)
        grad_values = -grad_recall
        if grad_fast is None:
            grad_weights = [torch.zeros_like(w) for w in weights]
            grad_biases = [torch.zeros_like(w[..., 0]) for w in weights]
        else:
            grad_weights, grad_biases = unpack(grad_fast, spec)
        grad_keys = _mlp_backward(weights, reads, grad_out, grad_weights, grad_biases)

        # the writes, last step first
        grad_write_keys_total = grad_keys[:, :wh]
        if grad_write_keys is not None:
            grad_write_keys_total = grad_write_keys_total + grad_write_keys
        grad_targets = None
        for tape in reversed(tapes):
            if targets is None:
                grad_weights, grad_biases, gk, gv, gb = _gradient_write_backward(
                    tape, grad_weights, grad_biases
                )
                grad_values = grad_values + gv
            else:
                grad_weights, grad_biases, gk, gt, gb = _local_write_backward(
                    tape, grad_weights, grad_biases
                )
                grad_targets = (
                    gt
                    if grad_targets is None
                    else [a + b for a, b in zip(grad_targets, gt, strict=True)]
                )
            grad_write_keys_total = grad_write_keys_total + gk
            grad_rates = grad_rates + gb
        grad_feedback: list[Tensor] = []
        if grad_targets is not None:
            grad_v, grad_feedback = _feedback_backward(targets, ctx.feedback, grad_targets)
            grad_values = grad_values + grad_v

        # squashing: unit norm of tanh for the keys, tanh for v_w, sigmoid for β
        grad_read_keys_total = grad_keys[:, wh:]
        if grad_read_keys is not None:
            grad_read_keys_total = grad_read_keys_total + grad_read_keys
        grad_unit = torch.cat([grad_write_keys_total, grad_read_keys_total], dim=1)
        grad_squashed = key_scale * (grad_unit - keys * (keys * grad_unit).sum(-1, keepdim=True))
        grad_raw_keys = torch.ops.aten.tanh_backward(grad_squashed, squashed_keys).flatten(1)
        grad_interface = torch.cat(
            [
                grad_raw_keys[:, : wh * spec.key_size],
                torch.ops.aten.tanh_backward(grad_values, values).view(batch, -1),
                torch.ops.aten.sigmoid_backward(grad_rates, rates),
                grad_raw_keys[:, wh * spec.key_size :],
            ],
            dim=1,
        )
        return (grad_interface, pack(grad_weights, grad_biases), None, *grad_feedback)


def memory_step(
    interface: Tensor, fast: Tensor, feedback: tuple[Tensor, ...], spec: MemorySpec
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One MNM memory step after the controller: squash the interface, write, then read.

    Args:
        interface: ``[B, I]`` the raw interface vector (k_w, v_w, β logits, k_r).
        fast: ``[B, P]`` fast weights φ_{t−1} (may be an ``expand``-ed parameter).
        feedback: MNM-p's ``(Q_1, q_1, ..., Q_{L−1}, q_{L−1})``; empty for MNM-g.
        spec: the sizes and the write rule.
    Returns:
        ``(φ_t [B, P], read values [B, R, V], meta loss [B], read keys [B, R, K],
        write keys [B, Wh, K], write rates [B, Wh])``.
    """
    if torch.is_grad_enabled():
        return _MemoryStep.apply(interface, fast, spec, *feedback)
    return _memory_forward(interface, fast, feedback, spec)[0]
