"""rnnlib.Bidirectional: the merge's gradients, gradient checks, and parity with torch's
bidirectional=True modules."""
import numpy as np
import pytest
import torch

import rnnlib
from conftest import PARITY_ERRORS

CELLS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("mode", ["concat", "sum"])
def test_merge_backward_passes_gradcheck(mode, rng):
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    out, cache = rnnlib.merge_forward(a, b, mode)
    weights = rng.normal(size=out.shape)
    da, db = rnnlib.merge_backward(weights, cache)
    for array, analytic in ((a, da), (b, db)):
        numeric = rnnlib.numerical_gradient(
            lambda: float(np.sum(weights * rnnlib.merge_forward(a, b, mode)[0])), array)
        assert rnnlib.relative_error(analytic, numeric) < 1e-9


def test_merge_rejects_bad_mode_and_shapes(rng):
    a = rng.normal(size=(2, 3, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        rnnlib.merge_forward(a, a, "mean")
    with pytest.raises(ValueError, match="hs_reverse"):
        rnnlib.merge_forward(a, a[:, :2], "sum")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_bidirectional_gradients_pass_gradcheck(cell, merge, rng):
    layer = rnnlib.Bidirectional(cell, 3, 4, merge=merge, seed=0)
    x = rng.normal(size=(2, 5, 3))
    weights = rng.normal(size=layer.forward(x).shape)

    def loss():
        return float(np.sum(weights * layer.forward(x)))

    loss()
    dx = layer.backward(weights)
    assert rnnlib.relative_error(dx, rnnlib.numerical_gradient(loss, x)) < 1e-7
    for name, p in layer.params.items():
        loss()
        layer.backward(weights)
        analytic = layer.grads[name].copy()
        assert rnnlib.relative_error(analytic, rnnlib.numerical_gradient(loss, p)) < 1e-7, name


def test_output_at_step_t_depends_on_later_inputs_only_through_the_reverse_layer(rng):
    layer = rnnlib.Bidirectional("rnn", 2, 3, seed=1)
    x = rng.normal(size=(1, 6, 2))
    changed = x.copy()
    changed[:, -1] += 1.0                       # change only the last input
    delta = np.abs(layer.forward(changed) - layer.forward(x))[0, 0]
    assert delta[:3].max() == 0                 # left-to-right half at step 1: unchanged
    assert delta[3:].max() > 1e-3               # right-to-left half at step 1: sees the future


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_matches_torch(cell, rng):
    layer = rnnlib.Bidirectional(cell, 3, 4, seed=2)
    module = layer.to_torch()
    assert module.bidirectional
    x = rng.normal(size=(3, 6, 3))
    dout = rng.normal(size=(3, 6, 8))
    out = layer.forward(x)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    out_t = module(xt)[0]
    out_t.backward(torch.tensor(dout))
    diffs = [np.abs(out - out_t.detach().numpy()).max(), np.abs(dx - xt.grad.numpy()).max()]
    # torch splits each bias in two; its gradient is the same for both halves.
    for name, param in module.named_parameters():
        suffix = "_reverse" if name.endswith("_reverse") else ""
        kind, base = name.split("_")[0], name.split("_")[1]
        if kind == "weight":
            ours = layer.grads[("Wx" if base == "ih" else "Wh") + suffix]
        elif cell == "gru":
            ours = layer.grads[("bx" if base == "ih" else "bh") + suffix]
        else:
            ours = layer.grads["b" + suffix]
        diffs.append(np.abs(ours - param.grad.numpy()).max())
    PARITY_ERRORS.extend(diffs)
    assert max(diffs) < 1e-12

    back = rnnlib.Bidirectional.from_torch(module)
    np.testing.assert_array_equal(back.forward(x), out)


def test_from_torch_refuses_a_single_direction_and_to_torch_a_sum():
    with pytest.raises(ValueError, match="bidirectional=False"):
        rnnlib.Bidirectional.from_torch(torch.nn.GRU(3, 4, batch_first=True))
    with pytest.raises(ValueError, match="sums them"):
        rnnlib.Bidirectional("rnn", 3, 4, merge="sum", seed=0).to_torch()
