"""Memory addressing: the math of the NTM and DNC papers as small pure functions.

Every function is batch-first and stateless; the cores compose them. Shape legend:
    B batch   N memory slots   W slot size   H heads (any kind)
    R read heads   Wh write heads   S shift kernel size (odd)

References: Graves et al. 2014, "Neural Turing Machines" (content, interpolation,
shift, sharpening); Graves et al. 2016, "Hybrid computing using a neural network with
dynamic external memory" (usage, allocation, precedence, temporal links).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from memrl.checks import check_number

# Added under square roots so that all-zero memory rows or keys give similarity 0
# and finite gradients instead of 0/0.
NORM_EPS = 1e-8
# Usage is kept strictly inside (0, 1) in the allocation sort, as in DeepMind's DNC,
# so the exclusive cumulative product never multiplies by exactly 1 or 0.
_USAGE_EPS = 1e-6


def _safe_normalise(x: Tensor) -> Tensor:
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + NORM_EPS)


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """Content-based addressing: softmax over slots of strength x cosine similarity.

    Args:
        memory: ``[B, N, W]`` memory matrix M.
        keys: ``[B, H, W]`` lookup keys k.
        strengths: ``[B, H]`` key strengths beta (already positive).
    Returns:
        ``[B, H, N]`` weightings, each summing to 1 over N.
    """
    similarity = torch.einsum("bhw,bnw->bhn", _safe_normalise(keys), _safe_normalise(memory))
    return torch.softmax(strengths.unsqueeze(-1) * similarity, dim=-1)


def interpolate(w_content: Tensor, w_prev: Tensor, gate: Tensor) -> Tensor:
    """NTM interpolation gate: ``g * w_content + (1 - g) * w_prev``.

    Args:
        w_content: ``[B, H, N]`` content weightings of this step.
        w_prev: ``[B, H, N]`` the heads' weightings of the previous step.
        gate: ``[B, H]`` interpolation gate g in [0, 1].
    Returns:
        ``[B, H, N]``.
    """
    g = gate.unsqueeze(-1)
    return g * w_content + (1.0 - g) * w_prev


def shift(weights: Tensor, shifts: Tensor) -> Tensor:
    """Circular convolution of each weighting with its shift kernel (NTM location addressing).

    ``shifts[..., S // 2]`` is the weight of shift 0, ``shifts[..., S // 2 + 1]`` of shift
    +1: weight at slot i moves to slot i + 1 (modulo N). In general index j of the kernel
    is the shift ``j - S // 2``.

    Args:
        weights: ``[B, H, N]``.
        shifts: ``[B, H, S]`` with S odd, each summing to 1.
    Returns:
        ``[B, H, N]``.
    """
    size = shifts.shape[-1]
    if size % 2 != 1:
        raise ValueError(f"the shift kernel size S must be odd, got {size}")
    offsets = range(-(size // 2), size // 2 + 1)
    # torch.roll(w, o)[i] == w[i - o]: the weight of slot i lands on slot i + o.
    rolled = torch.stack([torch.roll(weights, o, dims=-1) for o in offsets], dim=-1)
    return torch.einsum("bhns,bhs->bhn", rolled, shifts)


def sharpen(weights: Tensor, gamma: Tensor) -> Tensor:
    """NTM sharpening ``w^gamma / sum(w^gamma)``, computed as a softmax in log space.

    Finite and normalised for large gamma and for weights that underflow to 0.

    Args:
        weights: ``[B, H, N]`` non-negative weightings.
        gamma: ``[B, H]`` sharpening exponents >= 1.
    Returns:
        ``[B, H, N]`` summing to 1 over N.
    """
    return torch.softmax(gamma.unsqueeze(-1) * safe_log(weights), dim=-1)


def safe_log(weights: Tensor) -> Tensor:
    """``log(weights)`` of non-negative weightings ``[..., N]``, finite where a weight is 0.

    Weights are clamped to the smallest normal number first, so a weight that underflowed
    to 0 gives a large negative logit and a finite gradient instead of ``-inf`` and NaN.
    """
    return torch.log(weights.clamp_min(torch.finfo(weights.dtype).tiny))


def update_usage(
    usage: Tensor, write_weights: Tensor, free_gates: Tensor, read_weights: Tensor
) -> Tensor:
    """DNC usage: raised by last step's writes, lowered where read heads free their slots.

    ``u_t = (u + w - u * w) * psi`` with ``w`` the combined write weighting of all write
    heads and retention ``psi = prod_i (1 - f_i * w^r_i)`` over read heads.

    Args:
        usage: ``[B, N]`` usage u_{t-1}.
        write_weights: ``[B, Wh, N]`` write weightings of the previous step.
        free_gates: ``[B, R]`` free gates f_t in [0, 1].
        read_weights: ``[B, R, N]`` read weightings of the previous step.
    Returns:
        ``[B, N]`` usage u_t in [0, 1].
    """
    written = 1.0 - torch.prod(1.0 - write_weights, dim=1)
    usage = usage + written - usage * written
    retention = torch.prod(1.0 - free_gates.unsqueeze(-1) * read_weights, dim=1)
    return usage * retention


def allocation_weights(usage: Tensor) -> Tensor:
    """DNC allocation weighting: the least-used slots get the most weight.

    Slots are sorted by usage ascending (free list phi);
    ``a[phi_j] = (1 - u[phi_j]) * prod_{i<j} u[phi_i]``.

    Args:
        usage: ``[B, N]`` usage in [0, 1].
    Returns:
        ``[B, N]`` allocation weights (sum <= 1).
    """
    return sorted_allocation(usage)[0]


def sorted_allocation(usage: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``allocation_weights(usage)`` and the sort behind it, for a hand-written backward:
    ``(allocation [B, N], (sorted usage, order, exclusive product, sorted allocation))``."""
    usage = _USAGE_EPS + (1.0 - _USAGE_EPS) * usage
    sorted_usage, order = torch.sort(usage, dim=-1)
    exclusive_product = torch.cumprod(
        torch.cat([torch.ones_like(sorted_usage[..., :1]), sorted_usage[..., :-1]], dim=-1),
        dim=-1,
    )
    by_sort = (1.0 - sorted_usage) * exclusive_product
    allocation = torch.zeros_like(usage).scatter(-1, order, by_sort)
    return allocation, (sorted_usage, order, exclusive_product, by_sort)


def update_precedence(precedence: Tensor, write_weights: Tensor) -> Tensor:
    """DNC precedence: how much each slot was the last one written, per write head.

    ``p_t = (1 - sum_i w_t[i]) * p_{t-1} + w_t``.

    Args:
        precedence: ``[B, Wh, N]`` p_{t-1}.
        write_weights: ``[B, Wh, N]`` this step's write weightings w_t.
    Returns:
        ``[B, Wh, N]`` p_t.
    """
    return (1.0 - write_weights.sum(dim=-1, keepdim=True)) * precedence + write_weights


def update_link(link: Tensor, precedence: Tensor, write_weights: Tensor) -> Tensor:
    """DNC temporal link matrix: ``L[i, j]`` ~ slot i was written right after slot j.

    ``L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p_{t-1}[j]``, diagonal zero.

    Args:
        link: ``[B, Wh, N, N]`` L_{t-1}.
        precedence: ``[B, Wh, N]`` p_{t-1}, the precedence *before* this step's write.
        write_weights: ``[B, Wh, N]`` this step's write weightings w_t.
    Returns:
        ``[B, Wh, N, N]`` L_t with zero diagonal.
    """
    w_i = write_weights.unsqueeze(-1)
    w_j = write_weights.unsqueeze(-2)
    link = (1.0 - w_i - w_j) * link + w_i * precedence.unsqueeze(-2)
    n = link.shape[-1]
    off_diagonal = 1.0 - torch.eye(n, device=link.device, dtype=link.dtype)
    return link * off_diagonal


def directional_weights(link: Tensor, read_weights: Tensor, forward: bool) -> Tensor:
    """DNC forward (``L w``) or backward (``L^T w``) read weightings.

    Forward moves a read head to the slot written after the one it read; backward to the
    slot written before.

    Args:
        link: ``[B, Wh, N, N]`` temporal link matrices, one per write head.
        read_weights: ``[B, R, N]`` the read weightings of the previous step.
        forward: direction.
    Returns:
        ``[B, R, Wh, N]``.
    """
    if forward:
        return torch.einsum("bwij,brj->brwi", link, read_weights)
    return torch.einsum("bwij,bri->brwj", link, read_weights)


def gumbel_softmax(logits: Tensor, tau: float | Tensor, hard: bool = True) -> Tensor:
    """Gumbel-softmax over the last dimension (straight-through when ``hard``).

    With ``hard=True`` the values are exactly one-hot while the gradient is that of the
    soft sample (Jang et al. 2017). The cores' hard reads go through ``hard_read``.

    Written out rather than calling ``F.gumbel_softmax`` for two guarantees: the Gumbel
    noise is finite (uniform samples are kept inside (0, 1), whereas an exponential sample
    of exactly 0 gives infinite noise and a NaN softmax), and the hard values are exactly
    0 and 1 (``hard + (soft - soft.detach())`` adds an exact zero; the usual
    ``hard - soft.detach() + soft`` can round 1 to 1 - ulp).

    Args:
        logits: ``[..., N]`` unnormalised log-probabilities (``-inf`` allowed, not all).
        tau: temperature > 0 (a float or a 0-dim tensor, e.g. an annealed buffer).
        hard: return one-hot values with straight-through gradients.
    Returns:
        ``[..., N]``.
    """
    if not torch.is_tensor(tau):
        check_number("the Gumbel-softmax temperature tau", tau, positive=True)
    finfo = torch.finfo(logits.dtype)
    uniform = torch.rand_like(logits).clamp(min=finfo.tiny, max=1.0 - finfo.eps)
    gumbel_noise = -torch.log(-torch.log(uniform))
    soft = torch.softmax((logits + gumbel_noise) / tau, dim=-1)
    if not hard:
        return soft
    return one_hot_argmax(soft) + (soft - soft.detach())


def straight_through(hard: Tensor, logits: Tensor, tau: float | Tensor) -> Tensor:
    """``hard`` values with the gradient of ``softmax(logits / tau)`` (straight-through).

    The eval-mode form of hard reads: the values are the deterministic one-hot ``hard``
    (e.g. ``one_hot_argmax_tolerant(logits)``), the gradient is that of the soft weights at
    temperature ``tau``. An RL update that must recompute the reads it acted with (PPO
    acts in eval mode) uses it to train through them. Without autograd it returns ``hard``.

    Args:
        hard: ``[..., N]`` one-hot values.
        logits: ``[..., N]`` the logits ``hard`` was taken from.
        tau: temperature > 0.
    Returns:
        ``[..., N]``, equal to ``hard``.
    """
    if not torch.is_grad_enabled():
        return hard
    soft = torch.softmax(logits / tau, dim=-1)
    return hard + (soft - soft.detach())


def erase_and_add(memory: Tensor, write_weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """NTM/DNC memory write: erase then add, all write heads at once.

    ``M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T`` (Graves et al. 2014,
    eqs. 3-4, with the products and sums over heads as the paper prescribes for several
    write heads: the order of the heads does not matter).

    Args:
        memory: ``[B, N, W]`` M_{t-1}.
        write_weights: ``[B, Wh, N]`` write weightings w_t.
        erase: ``[B, Wh, W]`` erase vectors e_t in [0, 1].
        add: ``[B, Wh, W]`` add vectors a_t.
    Returns:
        ``[B, N, W]`` M_t.
    """
    keep = torch.prod(1.0 - torch.einsum("bhn,bhw->bhnw", write_weights, erase), dim=1)
    return memory * keep + torch.einsum("bhn,bhw->bnw", write_weights, add)


def one_hot_argmax(logits: Tensor) -> Tensor:
    """Deterministic one-hot at the argmax of the last dimension (eval-mode hard reads)."""
    index = logits.argmax(dim=-1, keepdim=True)
    return torch.zeros_like(logits).scatter(-1, index, 1.0)


def one_hot_argmax_tolerant(logits: Tensor) -> Tensor:
    """One-hot at the argmax of ``logits [..., N]``, near-ties going to the lowest index.

    Entries whose probability ``softmax(logits)`` lies within a relative ``sqrt(eps)`` of
    the largest one count as tied: ``logits >= max + log(1 - sqrt(eps))``. Memories make
    such ties on purpose. A DNC's first write into its all-zero memory adds the same vector
    to every slot (the content weighting of an empty memory is uniform), an NTM's memory
    starts constant, so slots stay equally similar to every key up to rounding, and
    rounding differs with the batch size (batched matmul kernels). Without the tolerance an
    eval-mode read of one episode would depend on which other episodes share its batch.

    Args:
        logits: ``[..., N]`` unnormalised log-probabilities (``-inf`` allowed, not all).
    Returns:
        ``[..., N]`` one-hot, in the dtype of ``logits``.
    """
    log_tolerance = math.log1p(-(torch.finfo(logits.dtype).eps ** 0.5))
    top = logits.amax(dim=-1, keepdim=True)
    return one_hot_argmax((logits >= top + log_tolerance).to(logits.dtype))


def hard_read(logits: Tensor, tau: float | Tensor, training: bool) -> Tensor:
    """One-hot read weightings ("gumbel" read addressing of the NTM, DNC and MemNet).

    In training a straight-through Gumbel-softmax sample, ``gumbel_softmax(logits, tau)``;
    in eval the deterministic ``one_hot_argmax_tolerant(logits)`` with the gradient of
    ``softmax(logits / tau)`` (``straight_through``), so that an update can train through
    the reads it acted with (PPO collects its rollouts in eval mode).

    Args:
        logits: ``[..., N]`` unnormalised log-probabilities of the soft read weighting
            (``-inf`` allowed, not all), e.g. ``safe_log`` of a weighting.
        tau: temperature > 0 (a float or a 0-dim tensor, e.g. an annealed buffer).
        training: sample (True) or take the argmax (False).
    Returns:
        ``[..., N]`` exactly one-hot values.
    """
    if training:
        return gumbel_softmax(logits, tau, hard=True)
    return straight_through(one_hot_argmax_tolerant(logits), logits, tau)
