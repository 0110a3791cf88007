"""rnncourse.grading: the output comparison the exercises' test cells use (in the trusted kernel)."""
import numpy as np
import pytest

import rnnlib
from rnncourse.grading import check_outputs, close

RNG = np.random.default_rng(0)
X, H, WX, WH, B = (RNG.normal(size=s) for s in [(2, 3), (2, 4), (4, 3), (4, 4), (4,)])


def test_check_outputs_names_the_mistake_and_never_shows_values():
    expected = rnnlib.rnn_step_forward(X, H, WX, WH, B)[0]
    no_bias = np.tanh(X @ WX.T + H @ WH.T)
    mistakes = [("did you forget the bias b?", (no_bias,))]
    check_outputs("rnn_step_forward", (expected.copy(),), (expected,), ("h",), mistakes=mistakes)
    with pytest.raises(AssertionError, match="^case: did you forget the bias b\\?$"):
        check_outputs("rnn_step_forward", (no_bias,), (expected,), ("h",), mistakes=mistakes, case="case")
    with pytest.raises(AssertionError) as wrong:
        check_outputs("rnn_step_forward", (expected + 0.5,), (expected,), ("h",), mistakes=mistakes)
    assert str(wrong.value) == "rnn_step_forward: h is wrong"
    with pytest.raises(AssertionError, match="transpose of the right shape"):
        check_outputs("rnn_step_forward", (expected.T,), (expected,), ("h",))
    with pytest.raises(AssertionError, match="dtype float32, expected float64"):
        check_outputs("rnn_step_forward", (expected.astype(np.float32),), (expected,), ("h",))
    with pytest.raises(AssertionError, match="must return a tuple"):
        check_outputs("rnn_step_forward", expected, (expected,), ("h",))
    with pytest.raises(AssertionError, match="must be a NumPy array, got list"):
        check_outputs("rnn_step_forward", (expected.tolist(),), (expected,), ("h",))


def test_check_outputs_says_which_outputs_are_right():
    a, b = np.ones(3), np.zeros(3)
    with pytest.raises(AssertionError, match=r"^f: db is wrong \(dx is right\)$"):
        check_outputs("f", (a, b + 1), (a, b), ("dx", "db"))


def test_close_follows_the_dtype_and_the_shape():
    x = np.ones(4)
    assert close(x + 1e-9, x) and not close(x + 1e-6, x)
    x32 = x.astype(np.float32)
    assert close(x32 + np.float32(1e-6), x32) and not close(x32 + np.float32(1e-3), x32)
    assert not close(np.ones((4, 1)), x), "a different shape is never close"
