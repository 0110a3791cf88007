"""Known mistakes in the gru assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI."""
from . import Mistake

# ---------------------------------------------------------------- gru_step_forward

MISTAKES = {
    "cho_reset_before_product": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    Wxr, Wxz, Wxn = Wx[:H], Wx[H:2 * H], Wx[2 * H:]
    Whr, Whz, Whn = Wh[:H], Wh[H:2 * H], Wh[2 * H:]
    r = sigmoid(x @ Wxr.T + bx[:H] + h_prev @ Whr.T + bh[:H])
    z = sigmoid(x @ Wxz.T + bx[H:2 * H] + h_prev @ Whz.T + bh[H:2 * H])
    # reset the old state, then the recurrent product (as in the paper)
    n = np.tanh(x @ Wxn.T + bx[2 * H:] + (r * h_prev) @ Whn.T + bh[2 * H:])
    h = (1 - z) * n + z * h_prev
    ahn = h_prev @ Whn.T + bh[2 * H:]
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="multiplies h_prev before the product with Whn",
    ),
    "bhn_outside_reset": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    ax = x @ Wx.T + bx
    hw = h_prev @ Wh.T
    r = sigmoid(ax[:, :H] + hw[:, :H] + bh[:H])
    z = sigmoid(ax[:, H:2 * H] + hw[:, H:2 * H] + bh[H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * hw[:, 2 * H:] + bh[2 * H:])
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, hw[:, 2 * H:] + bh[2 * H:])
''',
        feedback="bhn is added outside the reset product",
    ),
    "update_gate_swapped": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    ax = x @ Wx.T + bx
    ah = h_prev @ Wh.T + bh
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    ahn = ah[:, 2 * H:]
    n = np.tanh(ax[:, 2 * H:] + r * ahn)
    h = z * n + (1 - z) * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="update gate is used the other way round",
    ),
    "gates_in_wrong_order": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    ax = x @ Wx.T + bx
    ah = h_prev @ Wh.T + bh
    z = sigmoid(ax[:, :H] + ah[:, :H])
    r = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    ahn = ah[:, 2 * H:]
    n = np.tanh(ax[:, 2 * H:] + r * ahn)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="gates are taken in the wrong order",
    ),
    "candidate_sigmoid": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    ax = x @ Wx.T + bx
    ah = h_prev @ Wh.T + bh
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    ahn = ah[:, 2 * H:]
    n = sigmoid(ax[:, 2 * H:] + r * ahn)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="candidate n uses the sigmoid",
    ),
    "gates_tanh": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    a = x @ Wx.T + bx
    b = h_prev @ Wh.T + bh
    gates = np.tanh(a[:, :2 * H] + b[:, :2 * H])
    r, z = gates[:, :H], gates[:, H:]
    ahn = b[:, 2 * H:]
    n = np.tanh(a[:, 2 * H:] + r * ahn)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="gates r and z use tanh",
    ),
    "wh_blocks_not_transposed": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    Wxr, Wxz, Wxn = Wx[:H], Wx[H:2 * H], Wx[2 * H:]
    Whr, Whz, Whn = Wh[:H], Wh[H:2 * H], Wh[2 * H:]
    bxr, bxz, bxn = bx[:H], bx[H:2 * H], bx[2 * H:]
    bhr, bhz, bhn = bh[:H], bh[H:2 * H], bh[2 * H:]
    r = sigmoid(x @ Wxr.T + bxr + h_prev @ Whr + bhr)
    z = sigmoid(x @ Wxz.T + bxz + h_prev @ Whz + bhz)
    ahn = h_prev @ Whn + bhn
    n = np.tanh(x @ Wxn.T + bxn + r * ahn)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="blocks of Wh are used without a transpose",
    ),
    "cached_ahn_without_bias": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    ax = x @ Wx.T + bx
    hw = h_prev @ Wh.T
    r = sigmoid(ax[:, :H] + hw[:, :H] + bh[:H])
    z = sigmoid(ax[:, H:2 * H] + hw[:, H:2 * H] + bh[H:2 * H])
    ahn = hw[:, 2 * H:]
    n = np.tanh(ax[:, 2 * H:] + r * (ahn + bh[2 * H:]))
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="ahn has no bias",
    ),
    "forward_float32_to_float64": Mistake(
        function="gru_step_forward",
        code='''\
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    N, H = h_prev.shape
    gates = np.zeros((N, 3 * H))  # r, z, n side by side
    ax = x @ Wx.T + bx
    ah = h_prev @ Wh.T + bh
    gates[:, :2 * H] = sigmoid(ax[:, :2 * H] + ah[:, :2 * H])
    r, z = gates[:, :H], gates[:, H:2 * H]
    ahn = ah[:, 2 * H:]
    gates[:, 2 * H:] = np.tanh(ax[:, 2 * H:] + r * ahn)
    n = gates[:, 2 * H:]
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)
''',
        feedback="keep the dtype of the inputs",
    ),
}

# ---------------------------------------------------------------- gru_step_backward


def _backward(dan="dh * (1 - z) * (1 - n ** 2)", daz="dh * (h_prev - n) * z * (1 - z)",
              dar="dan * ahn * r * (1 - r)", dah_n="r * dan", dh_prev="dh * z + dah @ Wh",
              dWx="dax.T @ x", dbx="dax.sum(axis=0)", dbh="dah.sum(axis=0)", extra=""):
    """A learner's gru_step_backward, written out, with the given lines."""
    return f'''\
def gru_step_backward(dh, cache):
    x, h_prev, Wx, Wh, r, z, n, ahn = cache
    dan = {dan}
    daz = {daz}
    dar = {dar}
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, {dah_n}], axis=1){extra}
    dx = dax @ Wx
    dh_prev = {dh_prev}
    dWx = {dWx}
    dWh = dah.T @ h_prev
    dbx = {dbx}
    dbh = {dbh}
    return dx, dh_prev, dWx, dWh, dbx, dbh
'''


MISTAKES.update({
    "no_sigmoid_derivative_r": Mistake(
        function="gru_step_backward", code=_backward(dar="dan * ahn"),
        feedback="sigmoid derivative of the reset gate is missing"),
    "no_sigmoid_derivative_z": Mistake(
        function="gru_step_backward", code=_backward(daz="dh * (h_prev - n)"),
        feedback="sigmoid derivative of the update gate is missing"),
    "no_tanh_derivative_n": Mistake(
        function="gru_step_backward", code=_backward(dan="dh * (1 - z)"),
        feedback="tanh derivative of the candidate is missing"),
    "z_gradient_sign": Mistake(
        function="gru_step_backward", code=_backward(daz="dh * (n - h_prev) * z * (1 - z)"),
        feedback="gradient of z has the wrong sign"),
    "no_direct_path": Mistake(
        function="gru_step_backward", code=_backward(dh_prev="dah @ Wh"),
        feedback="misses the direct path"),
    "recurrent_n_without_reset": Mistake(
        function="gru_step_backward", code=_backward(dah_n="dan"),
        feedback="recurrent side of the candidate misses the reset gate"),
    "dbhn_equals_dbxn": Mistake(
        function="gru_step_backward",
        code=_backward(dbh="np.concatenate([dar.sum(axis=0), daz.sum(axis=0), dan.sum(axis=0)])"),
        feedback="bhn sits inside the reset product"),
    "dwx_transposed": Mistake(
        function="gru_step_backward", code=_backward(dWx="x.T @ dax"),
        feedback="transpose of the right shape"),
    "bias_not_summed_over_batch": Mistake(
        function="gru_step_backward", code=_backward(dbx="dax", dbh="dah"),
        feedback="not summed over the batch"),
    "backward_float32_to_float64": Mistake(
        function="gru_step_backward",
        code='''\
def gru_step_backward(dh, cache):
    x, h_prev, Wx, Wh, r, z, n, ahn = cache
    N, H = dh.shape
    dax = np.zeros((N, 3 * H))
    dan = dh * (1 - z) * (1 - n ** 2)
    dax[:, 2 * H:] = dan
    dax[:, H:2 * H] = dh * (h_prev - n) * z * (1 - z)
    dax[:, :H] = dan * ahn * r * (1 - r)
    dah = dax.copy()
    dah[:, 2 * H:] = r * dan
    dx = dax @ Wx
    dh_prev = dh * z + dah @ Wh
    return dx, dh_prev, dax.T @ x, dah.T @ h_prev, dax.sum(axis=0), dah.sum(axis=0)
''',
        feedback="keep the dtype of the inputs"),
})

# gru_step_forward and gru_step_backward are exported by rnnlib: the test writes their delegations.
DELEGATIONS = {}
