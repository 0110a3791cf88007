"""rnnlib.grading: the delegation check and the output comparison the exercises' tests use."""
import numpy as np
import pytest
# imported here, so the check below meets torch's functions, not an import it would cut short
import torch  # noqa: F401

import rnnlib
from rnnlib.grading import call_own_code, check_outputs
from rnnlib.rnn import rnn_step_forward as aliased_step

RNG = np.random.default_rng(0)
X, H, WX, WH, B = (RNG.normal(size=s) for s in [(2, 3), (2, 4), (4, 3), (4, 4), (4,)])
XS = RNG.normal(size=(2, 5, 3))


def own_step(x, h_prev, Wx, Wh, b):
    h = np.tanh(x @ Wx.T + h_prev @ Wh.T + b)
    return h, (x, h_prev, Wx, Wh, h)


def delegating_step(x, h_prev, Wx, Wh, b):
    import rnnlib
    return rnnlib.rnn_step_forward(x, h_prev, Wx, Wh, b)


def aliasing_step(*args):
    return aliased_step(*args)


def swallowing_step(*args):
    try:
        return aliased_step(*args)
    except Exception:  # the check must not depend on the exception reaching it
        return own_step(*args)


def torch_step(x, h_prev, Wx, Wh, b):
    import torch
    return torch.tanh(torch.from_numpy(x @ Wx.T + h_prev @ Wh.T + b)).numpy(), None


def loop_over(step):
    def sequence(x, h0, Wx, Wh, b):
        h, states = h0, []
        for t in range(x.shape[1]):
            h, _ = step(x[:, t], h, Wx, Wh, b)
            states.append(h)
        return np.stack(states, axis=1), None
    return sequence


def test_own_code_runs_and_returns_its_result():
    h, _ = call_own_code(own_step, X, H, WX, WH, B)
    assert np.allclose(h, rnnlib.rnn_step_forward(X, H, WX, WH, B)[0])


@pytest.mark.parametrize("step", [delegating_step, aliasing_step, swallowing_step, torch_step])
def test_delegation_is_caught_however_it_is_written(step):
    with pytest.raises(AssertionError, match="must compute its result with its own NumPy code"):
        call_own_code(step, X, H, WX, WH, B)


def test_delegation_inside_a_function_graded_elsewhere_is_blamed_on_that_function():
    sequence = loop_over(delegating_step)
    hs, _ = call_own_code(sequence, XS, H, WX, WH, B, graded_elsewhere=(delegating_step,))
    assert np.allclose(hs, rnnlib.rnn_forward(XS, H, WX, WH, B)[0])
    with pytest.raises(AssertionError, match="rnnlib's rnn_step_forward"):
        call_own_code(sequence, XS, H, WX, WH, B)


def test_given_functions_may_be_called():
    logits = np.arange(6.0).reshape(2, 3)
    out = call_own_code(lambda z: rnnlib.softmax(z), logits, given=(rnnlib.softmax,))
    assert np.allclose(out.sum(axis=1), 1)


def test_the_profiler_is_restored():
    import sys
    call_own_code(own_step, X, H, WX, WH, B)
    with pytest.raises(AssertionError):
        call_own_code(delegating_step, X, H, WX, WH, B)
    assert sys.getprofile() is None


def test_learner_errors_pass_through():
    def broken(*args):
        raise NotImplementedError()
    with pytest.raises(NotImplementedError):
        call_own_code(broken, X, H, WX, WH, B)


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


def test_check_outputs_says_which_outputs_are_right():
    a, b = np.ones(3), np.zeros(3)
    with pytest.raises(AssertionError, match=r"^f: db is wrong \(dx is right\)$"):
        check_outputs("f", (a, b + 1), (a, b), ("dx", "db"))
