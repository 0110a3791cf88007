"""The fast sequence functions keep the documented caches: tuple contents, order, shapes, dtypes and
values, whatever the buffers underneath (time-major, exposed as batch-first views). And the
exp-based activations they use are the same functions as sigmoid and np.tanh."""
import warnings

import numpy as np
import pytest

from conftest import SHAPES
from rnnlib.lstm import sigmoid, sigmoid_into, tanh_into

# What each forward cache holds after the inputs, with its shape in symbols (DESIGN.md and the
# exercises' specification).
CACHE_LAYOUTS = {
    "rnn": ("x", "h0", "Wx", "Wh", ("hs", ("N", "T", "H"))),
    "lstm": ("x", "h0", "c0", "Wx", "Wh", ("gates", ("N", "T", "4H")), ("cs", ("N", "T", "H")),
             ("hs", ("N", "T", "H"))),
    "gru": ("x", "h0", "Wx", "Wh", ("rzn", ("N", "T", "3H")), ("ahns", ("N", "T", "H")),
            ("hs", ("N", "T", "H"))),
}


def run_forward(cell, N, T, D, H, rng, dtype):
    x = rng.normal(size=(N, T, D)).astype(dtype)
    states = cell.states(N, H, rng, dtype)
    params = cell.params(D, H, rng, dtype)
    hs, cache = cell.forward(x, *states, *params.values())
    return x, states, params, hs, cache


def shape_of(symbols, N, T, D, H):
    sizes = {"N": N, "T": T, "D": D, "H": H, "4H": 4 * H, "3H": 3 * H}
    return tuple(sizes[s] for s in symbols)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_cache_layout_shapes_and_dtype(cell, N, T, D, H, dtype, rng):
    x, states, params, hs, cache = run_forward(cell, N, T, D, H, rng, dtype)
    layout = CACHE_LAYOUTS[cell.name]
    assert isinstance(cache, tuple) and len(cache) == len(layout)
    inputs = {"x": x, "h0": states[0], "c0": states[-1], **params}
    for entry, value in zip(layout, cache):
        assert isinstance(value, np.ndarray) and value.dtype == dtype, entry
        if isinstance(entry, str):  # the inputs themselves, by reference
            assert value is inputs[entry], f"{cell.name} cache entry {entry} is not the input"
        else:
            name, symbols = entry
            assert value.shape == shape_of(symbols, N, T, D, H), (name, value.shape)
    assert hs.dtype == dtype and hs.shape == (N, T, H)
    assert cache[-1] is hs  # the returned hidden states are the cache's last entry
    grads = cell.backward(rng.normal(size=(N, T, H)).astype(dtype), cache)
    assert all(g.dtype == dtype for g in grads)
    assert grads[0].shape == (N, T, D)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_cache_values_equal_the_step_functions(cell, N, T, D, H, rng):
    """hs, and the per-step arrays in the cache, equal a loop over the step function."""
    x, states, params, hs, cache = run_forward(cell, N, T, D, H, rng, np.float64)
    state = list(states)
    for t in range(T):
        out = cell.step_forward(x[:, t], *state, *params.values())
        *state, step_cache = out
        np.testing.assert_allclose(hs[:, t], state[0], rtol=0, atol=1e-13)
        if cell.name == "lstm":  # gates, c_t
            np.testing.assert_allclose(cache[5][:, t], step_cache[5], rtol=0, atol=1e-13)
            np.testing.assert_allclose(cache[6][:, t], state[1], rtol=0, atol=1e-13)
        if cell.name == "gru":  # r, z, n and ahn
            np.testing.assert_allclose(cache[4][:, t], np.concatenate(step_cache[4:7], axis=-1),
                                       rtol=0, atol=1e-13)
            np.testing.assert_allclose(cache[5][:, t], step_cache[7], rtol=0, atol=1e-13)


def test_backward_accepts_contiguous_copies_of_the_cache(cell, rng):
    """Exercises grade learners' backward functions on copies of rnnlib's caches: C-contiguous
    batch-first arrays. rnnlib's own backward gives the same gradients on them."""
    N, T, D, H = 3, 6, 4, 5
    _, _, _, _, cache = run_forward(cell, N, T, D, H, rng, np.float64)
    dhs = rng.normal(size=(N, T, H))
    ours = cell.backward(dhs, cache)
    copies = tuple(np.array(a, order="C") for a in cache)
    assert all(a.flags.c_contiguous for a in copies)
    for a, b in zip(ours, cell.backward(dhs, copies)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_forward_and_backward_leave_their_inputs_unchanged(cell, rng):
    N, T, D, H = 2, 5, 3, 4
    x, states, params, hs, cache = run_forward(cell, N, T, D, H, rng, np.float64)
    before = [a.copy() for a in (x, *states, *params.values())]
    again_hs, again_cache = cell.forward(x, *states, *params.values())
    cache_before = [a.copy() for a in again_cache]
    dhs = rng.normal(size=(N, T, H))
    dhs_before = dhs.copy()
    cell.backward(dhs, again_cache)
    for a, b in zip(before, (x, *states, *params.values())):
        assert np.array_equal(a, b)
    for a, b in zip(cache_before, again_cache):
        assert np.array_equal(a, b)
    assert np.array_equal(dhs, dhs_before)


@pytest.mark.parametrize("dtype,tolerance", [(np.float64, 1e-15), (np.float32, 3e-7)])
def test_exp_based_activations_equal_sigmoid_and_tanh(dtype, tolerance, rng):
    a = np.concatenate([rng.normal(0, 4, 1000), [0.0, -1000.0, 1000.0, -50.0, 50.0]]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning for large |a|
        s, t = sigmoid_into(a, out=np.empty_like(a)), tanh_into(a, out=np.empty_like(a))
        in_place = a.copy()
        sigmoid_into(in_place, out=in_place)
    assert s.dtype == t.dtype == dtype
    np.testing.assert_allclose(s, sigmoid(a), rtol=0, atol=tolerance)
    np.testing.assert_allclose(t, np.tanh(a), rtol=0, atol=2 * tolerance)
    assert np.array_equal(in_place, s)
    assert s[-4] == 0 and s[-3] == 1 and t[-4] == -1 and t[-3] == 1
