"""Every backward of rnnlib agrees with centred differences in float64 (relative error < 1e-7)."""
import numpy as np
import pytest

from conftest import SHAPES
from rnnlib import (
    gradcheck,
    numerical_gradient,
    relative_error,
    softmax_cross_entropy,
    temporal_affine_backward,
    temporal_affine_forward,
)

TOLERANCE = 1e-7


def assert_all_close(errors, names):
    report = {n: e for n, e in zip(names, errors) if e is not None}
    assert all(e < TOLERANCE for e in report.values()), f"relative errors: {report}"


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_step_backward(cell, N, T, D, H, rng):
    x = rng.normal(size=(N, D))
    states = cell.states(N, H, rng)
    params = list(cell.params(D, H, rng).values())
    upstream = [rng.normal(size=(N, H)) for _ in states]  # dh, and dc for the LSTM
    outputs = cell.step_forward(x, *states, *params)
    cache = outputs[-1]

    def loss(*args):
        outs = cell.step_forward(*args)[:-1]
        return sum(np.sum(o * d) for o, d in zip(outs, upstream))

    grads = cell.step_backward(*upstream, cache)
    args = [x, *states, *params]
    assert len(grads) == len(args), "backward returns one gradient per forward input"
    names = ["x"] + [f"state{i}" for i in range(len(states))] + cell.param_names
    assert_all_close(gradcheck(loss, args, list(grads)), names)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("initial_state", ["given", "zeros"])
def test_sequence_backward(cell, N, T, D, H, initial_state, rng):
    x = rng.normal(size=(N, T, D))
    states = cell.states(N, H, rng) if initial_state == "given" else [None] * (
        2 if cell.has_cell_state else 1)
    params = list(cell.params(D, H, rng).values())
    dhs = rng.normal(size=(N, T, H))
    _, cache = cell.forward(x, *states, *params)
    grads = cell.backward(dhs, cache)
    args = [x, *states, *params]
    assert len(grads) == len(args)
    for g, a in zip(grads, args):
        assert a is None or g.shape == a.shape
    names = ["x"] + [f"state{i}" for i in range(len(states))] + cell.param_names
    errors = gradcheck(lambda *a: np.sum(cell.forward(*a)[0] * dhs), args, list(grads))
    assert_all_close(errors, names)


def test_temporal_affine_backward(rng):
    h, Wy, by = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    dy = rng.normal(size=(2, 3, 5))
    _, cache = temporal_affine_forward(h, Wy, by)
    grads = temporal_affine_backward(dy, cache)
    errors = gradcheck(lambda *a: np.sum(temporal_affine_forward(*a)[0] * dy), [h, Wy, by], grads)
    assert_all_close(errors, ["h", "Wy", "by"])


@pytest.mark.parametrize("with_mask", [False, True])
def test_softmax_cross_entropy_gradient(with_mask, rng):
    logits = rng.normal(size=(3, 4, 6))
    targets = rng.integers(0, 6, size=(3, 4))
    mask = (rng.random((3, 4)) < 0.6) if with_mask else None
    if with_mask:
        mask[0, 0] = True
    _, dlogits = softmax_cross_entropy(logits, targets, mask)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, targets, mask)[0], logits)
    assert relative_error(dlogits, numeric) < TOLERANCE
    if with_mask:
        assert np.all(dlogits[~mask] == 0), "masked steps must get no gradient"


def test_gradcheck_catches_a_wrong_gradient(rng):
    """The checker itself can fail: a gradient off by a missing factor is reported."""
    x = rng.normal(size=(3, 2))
    def loss(x):
        return np.sum(np.tanh(x))

    [right] = gradcheck(loss, [x], [1 - np.tanh(x) ** 2])
    [wrong] = gradcheck(loss, [x], [np.ones_like(x)])  # the tanh derivative forgotten
    assert right < 1e-9
    assert wrong > 1e-2


def test_numerical_gradient_refuses_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: float(np.sum(x)), x)
