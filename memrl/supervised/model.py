"""The supervised model (a memory core with a linear read-out), its loss and its error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from memrl.checks import CheckError
from memrl.memory import MemoryCore, core_names, make_core
from memrl.supervised.data import Batch, TargetKind

__all__ = [
    "SequenceModel",
    "batch_errors",
    "batch_loss",
    "build_model",
    "count_parameters",
    "resolve_core",
]


class SequenceModel(nn.Module):
    """A core run over a whole sequence from its initial state, then a linear read-out.

    ``forward(x [T, B, F]) -> logits [T, B, O]``; ``unroll`` also returns the core's
    auxiliary loss.
    """

    def __init__(self, core: MemoryCore, output_size: int) -> None:
        super().__init__()
        self.core = core
        self.readout = nn.Linear(core.output_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.unroll(x)[0]

    def unroll(self, x: Tensor, with_loss: bool = False) -> tuple[Tensor, Tensor | None]:
        """``(logits [T, B, O], the core's auxiliary loss [T, B] or None)``: the loss
        (MNM's meta loss) when ``with_loss`` and the core has one."""
        initial = self.core.initial_state(x.shape[1], x.device)
        if not with_loss:  # the core's forward: a sequence-form core reads all steps at once
            return self.readout(self.core(x, initial)[0]), None
        y, _, aux_loss = self.core.unroll(x, initial, with_loss=True)
        return self.readout(y), aux_loss


def resolve_core(core: str, overrides: Mapping[str, Any] = ()) -> tuple[str, dict[str, Any]]:
    """``(registered core name, constructor kwargs)`` for ``core``: a registered core name
    (``dnc``; its defaults) or an agent preset with a memory (``mnm-g``; its
    ``memory_kwargs``), with ``overrides`` on top."""
    overrides = dict(overrides)
    if core in core_names():
        return core, overrides
    from memrl.config import agent_presets, load_agent

    presets = sorted(name for name in agent_presets())
    if core in presets:
        agent = load_agent(core)
        if agent.memory is not None:
            return agent.memory, {**agent.memory_kwargs, **overrides}
    raise CheckError(
        "core",
        f"a registered core ({', '.join(core_names())}) or an agent preset with a memory "
        f"({', '.join(presets)})",
        repr(core),
    )


def build_model(
    core: str, core_kwargs: Mapping[str, Any], input_size: int, output_size: int
) -> SequenceModel:
    """The model for ``core`` (see :func:`resolve_core`) on ``input_size`` features."""
    name, kwargs = resolve_core(core, core_kwargs)
    try:
        made = make_core(name, input_size, **kwargs)
    except (TypeError, ValueError) as error:
        raise CheckError("core_kwargs", f"arguments {name} accepts", str(error)) from None
    return SequenceModel(made, output_size)


def batch_loss(kind: TargetKind, logits: Tensor, batch: Batch) -> Tensor:
    """Mean binary cross-entropy per scored bit, or cross-entropy per answer."""
    scored = logits[batch.mask]  # [N, O]
    if kind == "bits":
        return nn.functional.binary_cross_entropy_with_logits(scored, batch.targets[batch.mask])
    return nn.functional.cross_entropy(scored, batch.targets[batch.mask])


def batch_errors(kind: TargetKind, logits: Tensor, batch: Batch) -> tuple[Tensor, int]:
    """(wrong bits or wrong answers as a 0-d tensor, how many were scored)."""
    scored = logits[batch.mask]
    targets = batch.targets[batch.mask]
    if kind == "bits":
        return ((scored > 0).float() != targets).sum(), targets.numel()
    return (scored.argmax(-1) != targets).sum(), targets.numel()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
