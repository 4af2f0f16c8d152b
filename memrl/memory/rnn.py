"""LSTM and GRU baselines behind the ``MemoryCore`` contract.

They keep their whole memory in the hidden state, so ``read_trace`` is empty. The
sequence path runs ``torch.nn.LSTM``/``GRU`` (cuDNN on GPU) over the stretches between
episode starts instead of stepping a cell one step at a time.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from torch import Tensor, nn

from memrl.checks import check_int
from memrl.memory.base import MemoryCore, module_device_dtype, reset_where
from memrl.memory.registry import register_core


class LSTMState(NamedTuple):
    """State of the LSTM core.

    Attributes:
        h: ``[B, H]`` hidden state (also the output).
        c: ``[B, H]`` cell state.
    """

    h: Tensor
    c: Tensor


class GRUState(NamedTuple):
    """State of the GRU core.

    Attributes:
        h: ``[B, H]`` hidden state (also the output).
    """

    h: Tensor


class _TorchRNNCore(MemoryCore):
    """Shared sequence logic of the LSTM and GRU cores (not registered)."""

    rnn: nn.LSTM | nn.GRU

    def __init__(self, input_size: int, hidden_size: int = 128) -> None:
        super().__init__()
        input_size = check_int("input_size", input_size, minimum=1)
        hidden_size = check_int("hidden_size", hidden_size, minimum=1)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size

    def _zeros(self, batch_size: int, device: torch.device | str | None) -> Tensor:
        default_device, dtype = module_device_dtype(self)
        return torch.zeros(
            batch_size, self.hidden_size, device=device or default_device, dtype=dtype
        )

    def _to_torch(self, state: tuple) -> tuple | Tensor:
        raise NotImplementedError

    def _from_torch(self, hidden: tuple | Tensor) -> tuple:
        raise NotImplementedError

    def step(self, x: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        y, hidden = self.rnn(x.unsqueeze(0), self._to_torch(state))
        return y.squeeze(0), self._from_torch(hidden)

    def unroll(self, x, state, episode_starts=None, with_loss=False):
        self.check_sequence(x, episode_starts)
        if episode_starts is None:
            y, hidden = self.rnn(x, self._to_torch(state))
            return y, self._from_torch(hidden), None
        # One host sync per sequence (not per step): the times at which any element
        # starts an episode split the sequence into stretches run as one cuDNN call each.
        any_start = episode_starts.to(torch.bool).any(dim=1)
        any_start[0] = True
        bounds = [*torch.nonzero(any_start).flatten().tolist(), x.shape[0]]
        initial = self.initial_state(x.shape[1], x.device)
        outputs = []
        for begin, end in itertools.pairwise(bounds):
            state = reset_where(episode_starts[begin], state, initial)
            y, hidden = self.rnn(x[begin:end], self._to_torch(state))
            state = self._from_torch(hidden)
            outputs.append(y)
        return torch.cat(outputs), state, None


@register_core("lstm")
class LSTMCore(_TorchRNNCore):
    """LSTM baseline: the memory is the cell state.

    Args:
        input_size: F, features per step.
        hidden_size: H, also the output size.
    """

    def __init__(self, input_size: int, hidden_size: int = 128) -> None:
        super().__init__(input_size, hidden_size)
        self.rnn = nn.LSTM(input_size, hidden_size)

    def initial_state(self, batch_size: int, device=None) -> LSTMState:
        zeros = self._zeros(batch_size, device)
        return LSTMState(zeros, zeros)

    def _to_torch(self, state: LSTMState) -> tuple[Tensor, Tensor]:
        return state.h.unsqueeze(0).contiguous(), state.c.unsqueeze(0).contiguous()

    def _from_torch(self, hidden: tuple[Tensor, Tensor]) -> LSTMState:
        return LSTMState(hidden[0].squeeze(0), hidden[1].squeeze(0))


@register_core("gru")
class GRUCore(_TorchRNNCore):
    """GRU baseline.

    Args:
        input_size: F, features per step.
        hidden_size: H, also the output size.
    """

    def __init__(self, input_size: int, hidden_size: int = 128) -> None:
        super().__init__(input_size, hidden_size)
        self.rnn = nn.GRU(input_size, hidden_size)

    def initial_state(self, batch_size: int, device=None) -> GRUState:
        return GRUState(self._zeros(batch_size, device))

    def _to_torch(self, state: GRUState) -> Tensor:
        return state.h.unsqueeze(0).contiguous()

    def _from_torch(self, hidden: Tensor) -> GRUState:
        return GRUState(hidden.squeeze(0))
