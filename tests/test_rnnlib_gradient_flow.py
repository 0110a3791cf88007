"""rnnlib.gradient_flow: the Jacobian product norms against torch's autograd Jacobians, and truncated
BPTT against one long forward pass, full BPTT and torch with the state detached at chunk borders."""
import numpy as np
import pytest
import torch

import rnnlib
from rnnlib.gradient_flow import jacobian_product_norms, truncated_bptt


def random_rnn(seed, N, T, D, H, dtype=np.float64, scale=0.8):
    rng = np.random.default_rng(seed)
    arrays = (rng.normal(size=(N, T, D)), 0.5 * rng.normal(size=(N, H)),
              scale * rng.normal(size=(H, D)) / np.sqrt(D), scale * rng.normal(size=(H, H)) / np.sqrt(H),
              0.3 * rng.normal(size=H), rng.normal(size=(N, T, H)))
    return tuple(a.astype(dtype) for a in arrays)   # x, h0, Wx, Wh, b, dhs


def torch_states(x, h_start, Wx, Wh, b, start):
    """h_{start+1}, ..., h_T from h_start with torch, for autograd."""
    states, h = [], h_start
    for t in range(start, x.shape[1]):
        h = torch.tanh(x[:, t] @ Wx.T + h @ Wh.T + b)
        states.append(h)
    return states


@pytest.mark.parametrize("N, T, D, H", [(1, 1, 2, 3), (2, 4, 3, 5), (3, 6, 4, 2)])
def test_jacobian_product_norms_match_autograd_jacobians(N, T, D, H):
    x, h0, Wx, Wh, b, _ = random_rnn(0, N, T, D, H)
    hs, _ = rnnlib.rnn_forward(x, h0, Wx, Wh, b)
    norms = jacobian_product_norms(hs, Wh)
    assert norms.shape == (N, T) and norms.dtype == np.float64
    states = np.concatenate([h0[:, None], hs], axis=1)          # h_0, ..., h_T
    xt, Wxt, Wht, bt = (torch.tensor(a) for a in (x, Wx, Wh, b))
    for n in range(N):
        for d in range(1, T + 1):
            k = T - d

            def last_state(h_k, n=n, k=k):
                return torch_states(xt[n:n + 1], h_k[None], Wxt, Wht, bt, k)[-1][0]

            J = torch.autograd.functional.jacobian(last_state, torch.tensor(states[n, k])).numpy()
            np.testing.assert_allclose(norms[n, d - 1], np.linalg.norm(J, 2), rtol=1e-12)


def test_jacobian_product_norms_in_the_linear_regime_are_norms_of_powers_of_Wh():
    rng = np.random.default_rng(1)
    Wh = rng.normal(size=(4, 4))
    norms = jacobian_product_norms(np.zeros((2, 5, 4)), Wh)
    powers = [np.linalg.norm(np.linalg.matrix_power(Wh, d), 2) for d in range(1, 6)]
    np.testing.assert_allclose(norms, [powers, powers], rtol=1e-12)


def test_jacobian_product_norms_keep_float32_and_check_shapes():
    rng = np.random.default_rng(2)
    hs = rng.uniform(-0.9, 0.9, size=(2, 3, 4))
    Wh = rng.normal(size=(4, 4))
    norms32 = jacobian_product_norms(hs.astype(np.float32), Wh.astype(np.float32))
    assert norms32.dtype == np.float32
    np.testing.assert_allclose(norms32, jacobian_product_norms(hs, Wh), rtol=1e-5)
    with pytest.raises(ValueError, match="Wh"):
        jacobian_product_norms(hs, Wh[:, :3])


@pytest.mark.parametrize("h0_given", [True, False], ids=["h0", "h0-None"])
@pytest.mark.parametrize("chunk_len", [1, 2, 3, 7, 10])
def test_truncated_bptt_forward_is_one_long_pass(chunk_len, h0_given):
    x, h0, Wx, Wh, b, dhs = random_rnn(3, 2, 7, 3, 4)
    h0 = h0 if h0_given else None
    hs, dx, dWx, dWh, db = truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len)
    np.testing.assert_allclose(hs, rnnlib.rnn_forward(x, h0, Wx, Wh, b)[0], rtol=0, atol=1e-14)
    assert dx.shape == x.shape and dWx.shape == Wx.shape and dWh.shape == Wh.shape and db.shape == b.shape


@pytest.mark.parametrize("chunk_len", [7, 8, 100])
def test_truncated_bptt_with_one_chunk_is_full_bptt(chunk_len):
    x, h0, Wx, Wh, b, dhs = random_rnn(4, 3, 7, 2, 5)
    _, dx, dWx, dWh, db = truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len)
    _, cache = rnnlib.rnn_forward(x, h0, Wx, Wh, b)
    full = rnnlib.rnn_backward(dhs, cache)
    for ours, theirs in zip((dx, dWx, dWh, db), (full[0], *full[2:])):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("T, chunk_len", [(7, 1), (7, 3), (6, 3), (5, 4)])
def test_truncated_bptt_matches_torch_with_the_state_detached_at_chunk_borders(T, chunk_len):
    x, h0, Wx, Wh, b, dhs = random_rnn(5, 2, T, 3, 4)
    hs, dx, dWx, dWh, db = truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len)
    xt = torch.tensor(x, requires_grad=True)
    Wxt, Wht, bt = (torch.tensor(a, requires_grad=True) for a in (Wx, Wh, b))
    h, states = torch.tensor(h0), []
    for t in range(T):
        if t % chunk_len == 0:
            h = h.detach()                       # the cut: no gradient into the previous chunk
        h = torch.tanh(xt[:, t] @ Wxt.T + h @ Wht.T + bt)
        states.append(h)
    loss = (torch.stack(states, dim=1) * torch.tensor(dhs)).sum()
    loss.backward()
    np.testing.assert_allclose(hs, torch.stack(states, dim=1).detach().numpy(), rtol=0, atol=1e-14)
    for ours, theirs in zip((dx, dWx, dWh, db), (xt, Wxt, Wht, bt)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-12, atol=1e-13)
    if chunk_len < T:   # the truncated gradient really differs from the full one
        full = rnnlib.rnn_backward(dhs, rnnlib.rnn_forward(x, h0, Wx, Wh, b)[1])
        assert not np.allclose(dWh, full[3])


def test_truncated_bptt_keeps_float32_and_rejects_bad_chunk_lengths():
    x, h0, Wx, Wh, b, dhs = random_rnn(6, 2, 5, 3, 4, dtype=np.float32)
    outputs = truncated_bptt(x, None, Wx, Wh, b, dhs, 2)
    assert all(out.dtype == np.float32 for out in outputs)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="chunk_len"):
            truncated_bptt(x, h0, Wx, Wh, b, dhs, bad)


def test_docstring_examples_run():
    import doctest

    import rnnlib.gradient_flow
    result = doctest.testmod(rnnlib.gradient_flow)
    assert result.attempted > 0 and result.failed == 0
