"""Known mistakes in the lstm assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI.

Each function is graded on its own (the backward tests read rnnlib's forward caches, and the
source notebook's sequence functions do not call its step functions), so a mistake in one
function costs only test cells of that function.
"""
from . import Mistake

STEP_FORWARD_VALUES = ("test_lstm_step_forward_values",)
STEP_BACKWARD_VALUES = ("test_lstm_step_backward_gradcheck", "test_lstm_step_backward_values")
FORWARD_VALUES = ("test_lstm_forward_values",)
BACKWARD_VALUES = ("test_lstm_backward_gradcheck", "test_lstm_backward_values")


def step_forward(pre="x @ Wx.T + h_prev @ Wh.T + b", gates="", cell="c = f * c_prev + i * g",
                 hidden="h = o * np.tanh(c)",
                 cache="(x, h_prev, c_prev, Wx, Wh, np.concatenate([i, f, g, o], axis=1), np.tanh(c))"):
    """A learner's lstm_step_forward, written the straightforward way, with pieces replaced."""
    gates = gates or '''\
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
'''
    return f'''\
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = {pre}
{gates}    {cell}
    {hidden}
    cache = {cache}
    return h, c, cache
'''


def step_backward(total="dc + dh * o * (1 - tanh_c ** 2)", tanh="", blocks=None, dc_prev="dc_total * f",
                  dWx="da.T @ x", db="da.sum(axis=0)"):
    """A learner's lstm_step_backward, with pieces replaced."""
    blocks = blocks or ["dc_total * g * i * (1 - i)", "dc_total * c_prev * f * (1 - f)",
                        "dc_total * i * (1 - g ** 2)", "dh * tanh_c * o * (1 - o)"]
    return f'''\
def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, Wx, Wh, gates, tanh_c = cache
    H = dh.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
{tanh}    dc_total = {total}
    da_i = {blocks[0]}
    da_f = {blocks[1]}
    da_g = {blocks[2]}
    da_o = {blocks[3]}
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dx = da @ Wx
    dh_prev = da @ Wh
    dc_prev = {dc_prev}
    dWx = {dWx}
    dWh = da.T @ h_prev
    db = {db}
    return dx, dh_prev, dc_prev, dWx, dWh, db
'''


def forward(start="h, c = h0, c0", step="h, c, step_cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)",
            store="hs[:, t] = h", hs="np.zeros((N, T, H), dtype=x.dtype)", cache="(x, h0, c0, Wx, Wh, gates, cs, hs)",
            none="h0 = np.zeros((N, H), dtype=x.dtype)\n"
                 "    if c0 is None:\n        c0 = np.zeros((N, H), dtype=x.dtype)"):
    """A learner's lstm_forward built on their lstm_step_forward, with pieces replaced."""
    return f'''\
def lstm_forward(x, h0, c0, Wx, Wh, b):
    N, T, D = x.shape
    H = Wh.shape[1]
    if h0 is None:
        {none}
    hs = {hs}
    cs = np.zeros((N, T, H), dtype=x.dtype)
    gates = np.zeros((N, T, 4 * H), dtype=x.dtype)
    {start}
    for t in range(T):
        {step}
        gates[:, t] = step_cache[5]
        cs[:, t] = c
        {store}
    cache = {cache}
    return hs, cache
'''


def backward(loop="for t in reversed(range(T)):", h_prev="hs[:, t - 1] if t > 0 else h0",
             c_prev="cs[:, t - 1] if t > 0 else c0", tanh_c="np.tanh(cs[:, t])", dh="dhs[:, t] + dh_next",
             dc="dc_next", accumulate="dWx += dWx_t\n        dWh += dWh_t\n        db += db_t"):
    """A learner's lstm_backward built on their lstm_step_backward, with pieces replaced."""
    return f'''\
def lstm_backward(dhs, cache):
    x, h0, c0, Wx, Wh, gates, cs, hs = cache
    N, T, H = hs.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, dtype=x.dtype)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    {loop}
        h_prev = {h_prev}
        c_prev = {c_prev}
        step_cache = (x[:, t], h_prev, c_prev, Wx, Wh, gates[:, t], {tanh_c})
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward({dh}, {dc}, step_cache)
        {accumulate}
    return dx, dh_next, dc_next, dWx, dWh, db
'''


SIGMOID_GATES = '''\
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
'''

MISTAKES = {
    # ---------------------------------------------------------------- lstm_step_forward
    "step_forward_gate_order_ifog": Mistake(
        "lstm_step_forward", step_forward(gates=SIGMOID_GATES),
        feedback="they are stacked i, f, g, o", fails=STEP_FORWARD_VALUES),
    "step_forward_tanh_forget_gate": Mistake(
        "lstm_step_forward", step_forward(gates='''\
    i = sigmoid(a[:, :H])
    f = np.tanh(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
'''), feedback="the forget gate f goes through tanh", fails=STEP_FORWARD_VALUES),
    "step_forward_sigmoid_candidate": Mistake(
        "lstm_step_forward", step_forward(gates='''\
    i, f, g, o = (sigmoid(a[:, k * H:(k + 1) * H]) for k in range(4))
'''), feedback="the candidate g goes through the sigmoid", fails=STEP_FORWARD_VALUES),
    "step_forward_gates_on_wrong_states": Mistake(
        "lstm_step_forward", step_forward(cell="c = i * c_prev + f * g"),
        feedback="act on the wrong states", fails=STEP_FORWARD_VALUES),
    "step_forward_c_prev_ignored": Mistake(
        "lstm_step_forward", step_forward(cell="c = i * g"),
        feedback="c_prev is ignored", fails=STEP_FORWARD_VALUES),
    "step_forward_h_without_tanh": Mistake(
        "lstm_step_forward", step_forward(hidden="h = o * c"),
        feedback="is missing the tanh", fails=STEP_FORWARD_VALUES),
    "step_forward_wh_reshaped": Mistake(
        "lstm_step_forward", step_forward(pre="x @ Wx.T + h_prev @ Wh.reshape(H, 4 * H) + b"),
        feedback="Wh is reshaped instead of transposed", fails=STEP_FORWARD_VALUES),
    "step_forward_wh_not_transposed": Mistake(
        "lstm_step_forward", step_forward(pre="x @ Wx.T + h_prev @ Wh + b"),
        feedback="weights are stored (outputs, inputs)"),
    "step_forward_no_bias": Mistake(
        "lstm_step_forward", step_forward(pre="x @ Wx.T + h_prev @ Wh.T"),
        feedback="the bias b is missing", fails=STEP_FORWARD_VALUES),
    "step_forward_c_prev_changed_in_place": Mistake(
        "lstm_step_forward", step_forward(cell="c_prev *= f\n    c = c_prev + i * g"),
        feedback="changed its input c_prev in place"),
    "step_forward_float64_gates": Mistake(
        "lstm_step_forward", step_forward(gates='''\
    N = x.shape[0]
    act = np.zeros((N, 4 * H))
    act[:] = sigmoid(a)
    act[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
    i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
''', cache="(x, h_prev, c_prev, Wx, Wh, act, np.tanh(c))"),
        feedback="keep the dtype of the inputs"),
    "step_forward_cache_pre_activations": Mistake(
        "lstm_step_forward", step_forward(cache="(x, h_prev, c_prev, Wx, Wh, a, np.tanh(c))"),
        feedback="the gates after their activation", fails=("test_lstm_step_forward_cache",)),
    "step_forward_cache_c_not_tanh": Mistake(
        "lstm_step_forward", step_forward(cache="(x, h_prev, c_prev, Wx, Wh, np.concatenate([i, f, g, o], axis=1), c)"),
        feedback="tanh(c), the new cell state after the tanh", fails=("test_lstm_step_forward_cache",)),
    # ---------------------------------------------------------------- lstm_step_backward
    "step_backward_no_path_from_h_to_c": Mistake(
        "lstm_step_backward", step_backward(total="dc"),
        feedback="dh does not reach c", fails=STEP_BACKWARD_VALUES),
    "step_backward_dc_prev_not_times_f": Mistake(
        "lstm_step_backward", step_backward(dc_prev="dc_total"),
        feedback="dc_prev is not multiplied by the forget gate", fails=STEP_BACKWARD_VALUES),
    "step_backward_dc_prev_from_upstream_dc": Mistake(
        "lstm_step_backward", step_backward(dc_prev="dc * f"),
        feedback="dc_prev carries only the upstream dc", fails=STEP_BACKWARD_VALUES),
    "step_backward_dc_prev_is_dc": Mistake(
        "lstm_step_backward", step_backward(dc_prev="dc"),
        feedback="dc_prev is the upstream dc itself", fails=STEP_BACKWARD_VALUES),
    "step_backward_no_sigmoid_derivative": Mistake(
        "lstm_step_backward", step_backward(blocks=["dc_total * g", "dc_total * c_prev",
                                                    "dc_total * i * (1 - g ** 2)", "dh * tanh_c"]),
        feedback="the sigmoid derivative is missing", fails=STEP_BACKWARD_VALUES),
    "step_backward_no_sigmoid_derivative_forget": Mistake(
        "lstm_step_backward", step_backward(blocks=["dc_total * g * i * (1 - i)", "dc_total * c_prev",
                                                    "dc_total * i * (1 - g ** 2)", "dh * tanh_c * o * (1 - o)"]),
        feedback="the sigmoid derivative of the forget gate is missing", fails=STEP_BACKWARD_VALUES),
    "step_backward_no_tanh_derivative": Mistake(
        "lstm_step_backward", step_backward(blocks=["dc_total * g * i * (1 - i)", "dc_total * c_prev * f * (1 - f)",
                                                    "dc_total * i", "dh * tanh_c * o * (1 - o)"]),
        feedback="the tanh derivative of the candidate g is missing", fails=STEP_BACKWARD_VALUES),
    "step_backward_tanh_of_tanh_c": Mistake(
        "lstm_step_backward", step_backward(tanh="    tanh_c = np.tanh(tanh_c)\n"),
        feedback="already holds tanh(c)", fails=STEP_BACKWARD_VALUES),
    "step_backward_dWx_transposed": Mistake(
        "lstm_step_backward", step_backward(dWx="x.T @ da"),
        feedback="(the transpose of the right shape)"),
    "step_backward_db_not_summed": Mistake(
        "lstm_step_backward", step_backward(db="da"),
        feedback="sum over the batch, axis 0"),
    "step_backward_db_averaged": Mistake(
        "lstm_step_backward", step_backward(db="da.mean(axis=0)"),
        feedback="db is averaged over the batch", fails=STEP_BACKWARD_VALUES),
    # ---------------------------------------------------------------- lstm_forward
    "forward_c_not_carried": Mistake(
        "lstm_forward", forward(step="h, c, step_cache = lstm_step_forward(x[:, t], h, c0, Wx, Wh, b)"),
        feedback="the cell state c is not carried from step to step", fails=FORWARD_VALUES),
    "forward_h_not_carried": Mistake(
        "lstm_forward", forward(step="h, c, step_cache = lstm_step_forward(x[:, t], h0, c, Wx, Wh, b)"),
        feedback="the hidden state h is not carried from step to step", fails=FORWARD_VALUES),
    "forward_c0_ignored": Mistake(
        "lstm_forward", forward(start="h, c = h0, np.zeros_like(h0)"),
        feedback="c0 is ignored", fails=FORWARD_VALUES),
    "forward_hs_holds_cell_states": Mistake(
        "lstm_forward", forward(store="hs[:, t] = c"),
        feedback="hs holds the cell states c", fails=FORWARD_VALUES),
    "forward_reads_first_input_every_step": Mistake(
        "lstm_forward", forward(step="h, c, step_cache = lstm_step_forward(x[:, 0], h, c, Wx, Wh, b)"),
        feedback="every step reads x[:, 0]", fails=FORWARD_VALUES),
    "forward_h_and_c_swapped": Mistake(
        "lstm_forward", forward(step="h, c, step_cache = lstm_step_forward(x[:, t], c, h, Wx, Wh, b)"),
        feedback="h and c are swapped", fails=FORWARD_VALUES),
    "forward_float64_hs": Mistake(
        "lstm_forward", forward(hs="np.zeros((N, T, H))"),
        feedback="keep the dtype of the inputs", fails=("test_lstm_forward_returns", "test_lstm_forward_values")),
    "forward_cache_keeps_none": Mistake(
        "lstm_forward", forward(none="pass", start='''h = np.zeros((N, H), dtype=x.dtype) if h0 is None else h0
    c = np.zeros((N, H), dtype=x.dtype) if c0 is None else c0'''),
        feedback="or the zeros of shape (N, H) you started from when h0 is None",
        fails=("test_lstm_forward_cache",)),
    # ---------------------------------------------------------------- lstm_backward
    "backward_dc_not_carried": Mistake(
        "lstm_backward", backward(dc="np.zeros_like(dc_next)"),
        feedback="dc is not carried back through time", fails=BACKWARD_VALUES),
    "backward_dh_not_carried": Mistake(
        "lstm_backward", backward(dh="dhs[:, t]"),
        feedback="dh is not carried back through time", fails=BACKWARD_VALUES),
    "backward_upstream_not_added": Mistake(
        "lstm_backward", backward(dh="dh_next"),
        feedback="dhs[:, t] is never added", fails=BACKWARD_VALUES),
    "backward_weights_not_accumulated": Mistake(
        "lstm_backward", backward(accumulate="dWx, dWh, db = dWx_t, dWh_t, db_t"),
        feedback="the weight gradients are not accumulated over time", fails=BACKWARD_VALUES),
    "backward_forward_in_time": Mistake(
        "lstm_backward", backward(loop="for t in range(T):"),
        feedback="the loop runs forward in time", fails=BACKWARD_VALUES),
    "backward_step_cache_gets_c": Mistake(
        "lstm_backward", backward(tanh_c="cs[:, t]"),
        feedback="the step needs tanh(c) where it got the cell state c itself", fails=BACKWARD_VALUES),
    "backward_t0_reads_last_step": Mistake(
        "lstm_backward", backward(h_prev="hs[:, t - 1]", c_prev="cs[:, t - 1]"),
        feedback="at t = 0 the previous states are h0 and c0", fails=BACKWARD_VALUES),
}

# Every graded function is exported by rnnlib, so the pipeline's default delegating versions apply.
DELEGATIONS = {}
