"""Known mistakes in the rnn_forward assignment: each becomes a submission that
tests/test_nbgrader_pipeline.py grades with the real nbgrader CLI."""
from . import Mistake

# A wrong step makes every sequence test fail too: rnn_forward is built on the learner's step.
ALL_TESTS = ("test_rnn_step_forward_returns", "test_rnn_step_forward_terms", "test_rnn_step_forward_values",
             "test_rnn_forward_returns", "test_rnn_forward_values", "test_rnn_forward_h0_none",
             "test_rnn_forward_float32")
SEQUENCE_TESTS = ALL_TESTS[3:]


def step(body):
    return f"def rnn_step_forward(x, h_prev, Wx, Wh, b):\n{body}    return h, (x, h_prev, Wx, Wh, h)\n"


def sequence(loop, zeros="np.zeros((N, H), dtype=x.dtype)"):
    return f'''\
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = Wh.shape[0]
    if h0 is None:
        h0 = {zeros}
    hs = np.zeros((N, T, H), dtype=x.dtype)
{loop}    return hs, (x, h0, Wx, Wh, hs)
'''


MISTAKES = {
    "no_bias": Mistake(
        "rnn_step_forward", step("    h = np.tanh(x @ Wx.T + h_prev @ Wh.T)\n"),
        feedback="did you forget the bias b?", fails=ALL_TESTS),
    "no_tanh": Mistake(
        "rnn_step_forward", step("    h = x @ Wx.T + h_prev @ Wh.T + b\n"),
        feedback="did you forget the tanh?", fails=ALL_TESTS),
    "sigmoid_instead_of_tanh": Mistake(
        "rnn_step_forward", step("    h = 1 / (1 + np.exp(-(x @ Wx.T + h_prev @ Wh.T + b)))\n"),
        feedback="tanh, not the logistic sigmoid", fails=ALL_TESTS),
    "recurrent_weight_not_transposed": Mistake(
        "rnn_step_forward", step("    h = np.tanh(x @ Wx.T + h_prev @ Wh + b)\n"),
        feedback="Wh is used without its transpose", fails=ALL_TESTS),
    "no_recurrent_term": Mistake(
        "rnn_step_forward", step("    h = np.tanh(x @ Wx.T + b)\n"),
        feedback="recurrent term", fails=ALL_TESTS),
    "state_not_carried": Mistake(
        "rnn_forward", sequence("    for t in range(T):\n"
                                "        hs[:, t], _ = rnn_step_forward(x[:, t], h0, Wx, Wh, b)\n"),
        feedback="not carried from step to step"),
    "stores_state_before_the_step": Mistake(
        "rnn_forward", sequence("    h = h0\n    for t in range(T):\n        hs[:, t] = h\n"
                                "        h, _ = rnn_step_forward(x[:, t], h, Wx, Wh, b)\n"),
        feedback="store the state after reading x[:, t]"),
    "reads_first_input_every_step": Mistake(
        "rnn_forward", sequence("    h = h0\n    for t in range(T):\n"
                                "        h, _ = rnn_step_forward(x[:, 0], h, Wx, Wh, b)\n        hs[:, t] = h\n"),
        feedback="every step reads x[:, 0]"),
    "ignores_h0": Mistake(
        "rnn_forward", sequence("    h = np.zeros_like(h0)\n    for t in range(T):\n"
                                "        h, _ = rnn_step_forward(x[:, t], h, Wx, Wh, b)\n        hs[:, t] = h\n"),
        feedback="h0 is ignored", fails=("test_rnn_forward_returns", "test_rnn_forward_values",
                                         "test_rnn_forward_float32")),
    "float64_zeros_for_missing_h0": Mistake(
        "rnn_forward", sequence("    hs = np.zeros((N, T, H))\n    h = h0\n    for t in range(T):\n"
                                "        h, _ = rnn_step_forward(x[:, t], h, Wx, Wh, b)\n        hs[:, t] = h\n",
                                zeros="np.zeros((N, H))"),
        feedback="create arrays with dtype=x.dtype", fails=("test_rnn_forward_float32",)),
}
