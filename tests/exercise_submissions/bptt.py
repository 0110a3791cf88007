"""Known mistakes in the bptt assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI."""
from . import Mistake

STEP_RETURNS = "test_rnn_step_backward_returns"
# A mistake in the values (not in the shapes) fails every step test but the one on shapes.
STEP_VALUES = ("test_rnn_step_backward_values", "test_rnn_step_backward_gradcheck", "test_rnn_step_backward_float32")
SEQ_RETURNS = "test_rnn_backward_returns"
SEQ_VALUES = ("test_rnn_backward_values", "test_rnn_backward_gradcheck", "test_rnn_backward_float32")


def step(body):
    """A learner's rnn_step_backward: the cache unpacked, then `body`, which defines the five gradients."""
    return ("def rnn_step_backward(dh, cache):\n    x, h_prev, Wx, Wh, h = cache\n"
            f"{body}    return dx, dh_prev, dWx, dWh, db\n")


RIGHT_STEP = {
    "da": "    da = dh * (1 - h ** 2)\n",
    "dx": "    dx = da @ Wx\n",
    "dh_prev": "    dh_prev = da @ Wh\n",
    "dWx": "    dWx = da.T @ x\n",
    "dWh": "    dWh = da.T @ h_prev\n",
    "db": "    db = np.sum(da, axis=0)\n",
}


def step_with(**changes):
    return step("".join(changes.get(name, line) for name, line in RIGHT_STEP.items()))


def sequence(loop, setup=None, result="    dh0 = dh_next\n"):
    """A learner's rnn_backward that calls its rnn_step_backward inside `loop`."""
    setup = setup or ("    dx = np.zeros_like(x)\n"
                      "    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=x.dtype)\n")
    return ("def rnn_backward(dhs, cache):\n    x, h0, Wx, Wh, hs = cache\n    N, T, H = hs.shape\n"
            f"{setup}    dh_next = np.zeros((N, H), dtype=x.dtype)\n{loop}{result}"
            "    return dx, dh0, dWx, dWh, db\n")


def loop(order="reversed(range(T))", dh="dhs[:, t] + dh_next", h_prev="h0 if t == 0 else hs[:, t - 1]",
         store="dx[:, t] = dx_t", accumulate="dWx += dWx_t\n        dWh += dWh_t\n        db += db_t",
         carry="dh_next = dh_prev"):
    return (f"    for t in {order}:\n"
            f"        dh = {dh}\n"
            f"        h_prev = {h_prev}\n"
            "        dx_t, dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh, (x[:, t], h_prev, Wx, Wh, hs[:, t]))\n"
            f"        {store}\n"
            f"        {accumulate}\n"
            f"        {carry}\n")


MISTAKES = {
    # ---------------------------------------------------------------- rnn_step_backward
    "step_no_tanh_derivative": Mistake(
        "rnn_step_backward", step_with(da="    da = dh\n"),
        feedback="the tanh derivative is missing", fails=STEP_VALUES),
    "step_derivative_at_h_prev": Mistake(
        "rnn_step_backward", step_with(da="    da = dh * (1 - h_prev ** 2)\n"),
        feedback="the tanh derivative is taken at h_prev", fails=STEP_VALUES),
    "step_tanh_applied_twice": Mistake(
        "rnn_step_backward", step_with(da="    da = dh * (1 - np.tanh(h) ** 2)\n"),
        feedback="tanh is applied twice", fails=STEP_VALUES),
    "step_dWx_transposed": Mistake(
        "rnn_step_backward", step_with(dWx="    dWx = x.T @ da\n"),
        feedback="the transpose of Wx's shape", fails=()),
    "step_dWh_transposed": Mistake(
        "rnn_step_backward", step_with(dWh="    dWh = h_prev.T @ da\n"),
        feedback="dWh is transposed", fails=STEP_VALUES),
    "step_db_not_summed": Mistake(
        "rnn_step_backward", step_with(db="    db = da\n"),
        feedback="summed over the batch", fails=()),
    "step_db_averaged": Mistake(
        "rnn_step_backward", step_with(db="    db = da.mean(axis=0)\n"),
        feedback="db is averaged over the batch", fails=STEP_VALUES),
    "step_dh_prev_with_Wh_transposed": Mistake(
        "rnn_step_backward", step_with(dh_prev="    dh_prev = da @ Wh.T\n"),
        feedback="dh_prev = da @ Wh", fails=STEP_VALUES),
    "step_changes_dh_in_place": Mistake(
        "rnn_step_backward", step_with(da="    dh *= 1 - h ** 2\n    da = dh\n"),
        feedback="changed dh in place", fails=(STEP_RETURNS,)),
    # ---------------------------------------------------------------- rnn_backward
    "no_gradient_from_the_future": Mistake(
        "rnn_backward", sequence(loop(dh="dhs[:, t]")),
        feedback="the gradient from the future is not added", fails=SEQ_VALUES),
    "weight_gradients_overwritten": Mistake(
        "rnn_backward", sequence(loop(accumulate="dWx = dWx_t\n        dWh = dWh_t\n        db = db_t")),
        feedback="not accumulated over time", fails=SEQ_VALUES),
    "loop_forward_in_time": Mistake(
        "rnn_backward", sequence(loop(order="range(T)")),
        feedback="the loop runs forward in time", fails=SEQ_VALUES),
    "only_last_upstream_gradient": Mistake(
        "rnn_backward", sequence(loop(dh="dh_next"), setup=(
            "    dx = np.zeros_like(x)\n"
            "    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=x.dtype)\n"
            "    dh_next = dhs[:, -1]\n")).replace("    dh_next = np.zeros((N, H), dtype=x.dtype)\n", "", 1),
        feedback="only the upstream gradient of the last step", fails=SEQ_VALUES),
    "h_prev_is_the_step_output": Mistake(
        "rnn_backward", sequence(loop(h_prev="hs[:, t]")),
        feedback="h_prev", fails=SEQ_VALUES),
    "h_prev_wraps_to_the_last_state": Mistake(
        "rnn_backward", sequence(loop(h_prev="hs[:, t - 1]")),
        feedback="h_prev", fails=SEQ_VALUES),
    "h0_ignored": Mistake(
        "rnn_backward", sequence(loop(h_prev="np.zeros_like(h0) if t == 0 else hs[:, t - 1]")),
        feedback="h_prev", fails=SEQ_VALUES),
    "dh0_zeros": Mistake(
        "rnn_backward", sequence(loop(), result="    dh0 = np.zeros_like(h0)\n"),
        feedback="dh0 is zero", fails=SEQ_VALUES),
    "dh0_before_the_first_step": Mistake(
        "rnn_backward", sequence(loop(), result="    dh0 = dh\n"),
        feedback="the dh_prev returned by the step t = 0", fails=SEQ_VALUES),
    "dx_not_stored_per_step": Mistake(
        "rnn_backward", sequence(loop(store="dx = dx_t")),
        feedback="store the dx of step t in dx[:, t]", fails=()),
    "float64_weight_gradients": Mistake(
        "rnn_backward", sequence(loop(), setup=(
            "    dx = np.zeros_like(x)\n"
            "    dWx, dWh, db = np.zeros(Wx.shape), np.zeros(Wh.shape), np.zeros(H)\n")),
        feedback="keep the dtype of the inputs", fails=(SEQ_RETURNS, "test_rnn_backward_float32")),
    "writes_into_dhs": Mistake(
        "rnn_backward", sequence(loop(dh="dhs[:, t]", carry="if t > 0:\n            dhs[:, t - 1] += dh_prev"),
                                 result="    dh0 = dh_prev\n"),
        feedback="changed dhs in place", fails=(SEQ_RETURNS,)),
}

# Delegation to an autodiff library rather than to rnnlib: the gradients of the step from torch's
# autograd. The numbers are right, so only the delegation check can take the points away.
MISTAKES["step_gradients_from_torch_autograd"] = Mistake(
    "rnn_step_backward", '''\
def rnn_step_backward(dh, cache):
    import torch
    x, h_prev, Wx, Wh, h = (torch.tensor(a, requires_grad=True) for a in cache)
    # the cache has no b: recover it from h = tanh(x Wx^T + h_prev Wh^T + b)
    b = (torch.atanh(h) - x @ Wx.T - h_prev @ Wh.T).mean(0).detach().requires_grad_()
    torch.tanh(x @ Wx.T + h_prev @ Wh.T + b).backward(torch.tensor(dh))
    return tuple(t.grad.numpy().astype(dh.dtype) for t in (x, h_prev, Wx, Wh, b))
''',
    feedback="must compute its result with its own NumPy code")
