"""The DNC with sparse top-K temporal links (``link_top_k``): with K large enough to keep
every entry it is the dense DNC, step for step; with a small K the step form and the
sequence form agree across resets, and gradients flow."""

from __future__ import annotations

import pytest
import torch

from memrl.memory import DNC
from memrl.memory.base import reset_where
from memrl.memory.sparse_link import SparseLink

SIZES = dict(memory_slots=5, slot_size=3, read_heads=2, controller_size=8)


def make(link_top_k=None, write_heads=1):
    torch.manual_seed(0)
    return DNC(4, write_heads=write_heads, link_top_k=link_top_k, **SIZES).double()


@pytest.mark.parametrize("write_heads", [1, 2])
def test_sparse_links_that_keep_every_entry_are_the_dense_dnc(write_heads):
    dense, sparse = make(None, write_heads), make(5, write_heads)  # K >= N: nothing truncated
    x = torch.randn(7, 3, 4, dtype=torch.float64)
    starts = torch.zeros(7, 3, dtype=torch.float64)
    starts[4, 1] = 1
    y_dense, state_dense = dense(x, dense.initial_state(3), starts)
    y_sparse, state_sparse = sparse(x, sparse.initial_state(3), starts)
    torch.testing.assert_close(y_sparse, y_dense)
    torch.testing.assert_close(state_sparse.read_weights, state_dense.read_weights)
    assert isinstance(state_sparse.link, SparseLink)


def test_truncated_sparse_links_step_like_they_unroll_and_carry_gradients():
    core = make(link_top_k=2)
    x = torch.randn(6, 2, 4, dtype=torch.float64, requires_grad=True)
    starts = torch.zeros(6, 2, dtype=torch.float64)
    starts[3, 0] = 1
    y, _ = core(x, core.initial_state(2), starts)
    state, initial, stepped = core.initial_state(2), core.initial_state(2), []
    for t in range(6):
        state = reset_where(starts[t], state, initial)
        out, state = core.step(x[t], state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped), y)
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_link_top_k_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="link_top_k must be an integer >= 1"):
        DNC(4, link_top_k=0)


def test_memory_ppo_trains_and_reloads_a_dnc_with_sparse_links(tmp_path):
    from memrl.envs import make_vec
    from memrl.sb3 import MemoryPPO

    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=0, corridor_length=2)
    kwargs = dict(SIZES, link_top_k=2)
    model = MemoryPPO(
        "MlpMemoryPolicy",
        env,
        n_steps=16,
        seq_len=8,
        batch_size=16,
        n_epochs=1,
        seed=0,
        policy_kwargs=dict(memory="dnc", memory_kwargs=kwargs),
    )
    model.learn(64)
    model.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip")
    obs = env.reset()
    actions, state = model.predict(obs, None, [True, True], deterministic=True)
    reloaded, _ = loaded.predict(obs, None, [True, True], deterministic=True)
    assert (actions == reloaded).all()
    assert isinstance(state.link, SparseLink)  # shared core: the policy state is the DNC's
