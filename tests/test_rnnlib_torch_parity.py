"""rnnlib equals torch.nn.RNN/LSTM/GRU (batch_first=True) and their cells, outputs and every
gradient, to float64 round-off (< 1e-10); in float32 the dtype is kept end to end."""
import numpy as np
import pytest
import torch

from conftest import PARITY_ERRORS, SHAPES

FLOAT64_TOLERANCE = 1e-10
TORCH_SEQUENCE = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
TORCH_CELL = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}


def assert_equal(ours, theirs, what, tolerance=FLOAT64_TOLERANCE):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    error = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    if ours.dtype == np.float64:
        PARITY_ERRORS.append(error)
    assert error < tolerance, f"{what}: max |rnnlib - torch| = {error:.3e}"


def load_torch_weights(module, cell, params, rng, suffix=""):
    """Copy our weights into a torch module. Where we keep one bias b, torch keeps two that add
    up to it; split b at random so the test also shows that only the sum matters."""
    if cell.name == "gru":
        b_ih, b_hh = params["bx"], params["bh"]
    else:
        b_ih = rng.normal(size=params["b"].shape).astype(params["b"].dtype)
        b_hh = params["b"] - b_ih
    with torch.no_grad():
        for name, value in (("weight_ih", params["Wx"]), ("weight_hh", params["Wh"]),
                            ("bias_ih", b_ih), ("bias_hh", b_hh)):
            getattr(module, name + suffix).copy_(torch.from_numpy(value))


def torch_param_grads(module, cell, suffix=""):
    grads = {"Wx": getattr(module, "weight_ih" + suffix).grad,
             "Wh": getattr(module, "weight_hh" + suffix).grad}
    if cell.name == "gru":
        grads.update(bx=getattr(module, "bias_ih" + suffix).grad,
                     bh=getattr(module, "bias_hh" + suffix).grad)
    else:
        # Both torch biases receive the gradient of their sum, which is our db.
        grads["b"] = getattr(module, "bias_ih" + suffix).grad
        grads["b (as bias_hh)"] = getattr(module, "bias_hh" + suffix).grad
    return grads


def run_sequence(cell, N, T, D, H, rng, dtype, initial_state, tolerance):
    x = rng.normal(size=(N, T, D)).astype(dtype)
    states = cell.states(N, H, rng, dtype) if initial_state else [None] * (
        2 if cell.has_cell_state else 1)
    params = cell.params(D, H, rng, dtype)
    dhs = rng.normal(size=(N, T, H)).astype(dtype)

    hs, cache = cell.forward(x, *states, *params.values())
    dx, *dstates_and_params = cell.backward(dhs, cache)
    dstates = dstates_and_params[:len(states)]
    dparams = dict(zip(params, dstates_and_params[len(states):]))

    module = TORCH_SEQUENCE[cell.name](D, H, batch_first=True, dtype=getattr(torch, np.dtype(dtype).name))
    load_torch_weights(module, cell, params, rng, suffix="_l0")
    x_t = torch.tensor(x, requires_grad=True)
    if initial_state:
        # torch wants (num_layers, N, H) initial states
        states_t = [torch.tensor(s[None], requires_grad=True) for s in states]
        hx = tuple(states_t) if cell.has_cell_state else states_t[0]
        out, _ = module(x_t, hx)
    else:
        out, _ = module(x_t)
    out.backward(torch.from_numpy(dhs))

    assert_equal(hs, out, f"{cell.name} hs", tolerance)
    assert_equal(dx, x_t.grad, f"{cell.name} dx", tolerance)
    if initial_state:
        for i, (ours, theirs) in enumerate(zip(dstates, states_t)):
            assert_equal(ours, theirs.grad[0], f"{cell.name} dstate{i}", tolerance)
    for name, theirs in torch_param_grads(module, cell, "_l0").items():
        assert_equal(dparams[name.split()[0]], theirs, f"{cell.name} d{name}", tolerance)
    for array in [hs, dx, *dstates, *dparams.values()]:
        assert array.dtype == dtype


@pytest.mark.parametrize("N,T,D,H", SHAPES + [(4, 30, 10, 16)])
@pytest.mark.parametrize("initial_state", [True, False], ids=["h0", "zeros"])
def test_sequence_matches_torch_float64(cell, N, T, D, H, initial_state, rng):
    run_sequence(cell, N, T, D, H, rng, np.float64, initial_state, FLOAT64_TOLERANCE)


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 3, 3), (4, 12, 6, 8)])
def test_sequence_float32_stays_float32_and_matches_torch(cell, N, T, D, H, rng):
    run_sequence(cell, N, T, D, H, rng, np.float32, True, tolerance=1e-5)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("dtype,tolerance", [(np.float64, FLOAT64_TOLERANCE), (np.float32, 1e-5)])
def test_step_matches_torch_cell(cell, N, T, D, H, dtype, tolerance, rng):
    x = rng.normal(size=(N, D)).astype(dtype)
    states = cell.states(N, H, rng, dtype)
    params = cell.params(D, H, rng, dtype)
    upstream = [rng.normal(size=(N, H)).astype(dtype) for _ in states]

    *outs, cache = cell.step_forward(x, *states, *params.values())
    dx, *rest = cell.step_backward(*upstream, cache)
    dstates, dparams = rest[:len(states)], dict(zip(params, rest[len(states):]))

    module = TORCH_CELL[cell.name](D, H, dtype=getattr(torch, np.dtype(dtype).name))
    load_torch_weights(module, cell, params, rng)
    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in states]
    outs_t = module(x_t, tuple(states_t) if cell.has_cell_state else states_t[0])
    outs_t = list(outs_t) if cell.has_cell_state else [outs_t]
    sum(torch.sum(o * torch.from_numpy(u)) for o, u in zip(outs_t, upstream)).backward()

    for i, (ours, theirs) in enumerate(zip(outs, outs_t)):
        assert_equal(ours, theirs, f"{cell.name} step output {i}", tolerance)
    assert_equal(dx, x_t.grad, f"{cell.name} step dx", tolerance)
    for i, (ours, theirs) in enumerate(zip(dstates, states_t)):
        assert_equal(ours, theirs.grad, f"{cell.name} step dstate{i}", tolerance)
    for name, theirs in torch_param_grads(module, cell).items():
        assert_equal(dparams[name.split()[0]], theirs, f"{cell.name} step d{name}", tolerance)


def test_layer_round_trip_through_torch(cell, rng):
    """Layer objects convert to torch and back with identical numbers, in both directions."""
    layer = cell.layer(5, 7, seed=3)
    module = layer.to_torch()
    assert isinstance(module, TORCH_SEQUENCE[cell.name]) and module.batch_first
    x = rng.normal(size=(2, 6, 5))
    out, _ = module(torch.from_numpy(x))
    assert_equal(layer.forward(x), out, f"{cell.name} layer.to_torch()")

    torch.manual_seed(0)
    fresh = TORCH_SEQUENCE[cell.name](5, 7, batch_first=True, dtype=torch.float64)
    back = cell.layer.from_torch(fresh)
    out, _ = fresh(torch.from_numpy(x))
    assert_equal(back.forward(x), out, f"{cell.name} from_torch()")
    assert set(back.params) == set(cell.param_names)


def test_layer_backward_fills_grads_like_autograd(cell, rng):
    layer = cell.layer(4, 3, seed=0)
    module = layer.to_torch()
    x = rng.normal(size=(2, 5, 4))
    dhs = rng.normal(size=(2, 5, 3))
    layer.forward(x)
    dx = layer.backward(dhs)
    x_t = torch.tensor(x, requires_grad=True)
    module(x_t)[0].backward(torch.from_numpy(dhs))
    assert_equal(dx, x_t.grad, f"{cell.name} layer dx")
    theirs = torch_param_grads(module, cell, "_l0")
    for name in cell.param_names:
        assert_equal(layer.grads[name], theirs[name], f"{cell.name} layer grads[{name!r}]")


@pytest.mark.parametrize("options", [{"num_layers": 2}, {"bidirectional": True}, {"bias": False}])
def test_from_torch_refuses_what_it_cannot_represent(cell, options):
    module = TORCH_SEQUENCE[cell.name](3, 4, batch_first=True, **options)
    with pytest.raises(ValueError, match="cannot convert"):
        cell.layer.from_torch(module)


def test_from_torch_refuses_the_wrong_module_type():
    import rnnlib
    with pytest.raises(TypeError, match="expected a torch.nn.LSTM"):
        rnnlib.LSTM.from_torch(torch.nn.GRU(3, 4))
