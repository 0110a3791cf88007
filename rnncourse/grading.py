"""What the graded exercises' test cells use to judge a learner's function.

They run in the trusted kernel (rnncourse.autograde), where every graded function is a proxy
that returns the learner's results as plain arrays; whether a function hands its work to rnnlib
or torch is decided by the sandbox, in which those are not available. Two jobs, shared by every
assignment in exercises/source/:

- ``check_outputs``: compare the learner's outputs with the reference's, output by output
  (type, shape, dtype, values), and when a value is wrong, name the mistake: the message of the
  first known mistake whose outputs the learner's equal;
- ``close``: the comparison itself, with a tolerance that follows the dtype.

Messages never contain expected values, so feedback made from hidden tests shows none.
"""
import numpy as np


def close(actual, expected, tol=None):
    """Same shape and values within a tolerance that follows the expected dtype."""
    expected = np.asarray(expected)
    if tol is None:
        tol = 2e-5 if expected.dtype == np.float32 else 1e-8
    actual = np.asarray(actual)
    return actual.shape == expected.shape and bool(np.allclose(actual, expected, rtol=tol, atol=tol))


def _matches(outputs, mistake_outputs, expected):
    """Every output the mistake predicts is what the learner returned, and the mistake is visible here."""
    predicted = [(a, m, e) for a, m, e in zip(outputs, mistake_outputs, expected) if m is not None]
    return (predicted
            and all(close(a, m, tol=1e-4) for a, m, _ in predicted)
            and not all(close(m, e, tol=1e-6) for _, m, e in predicted))


def check_outputs(function_name, outputs, expected, names, *, mistakes=(), case="", dtype=None):
    """Asserts that ``outputs`` (a tuple) equals ``expected``, output by output.

    names: the outputs' names, for the messages; mistakes: (message, predicted outputs) pairs, a
    predicted output of None meaning "this mistake does not change it"; dtype: the dtype every
    array output must have (default: that of the expected output).
    """
    prefix = f"{case}: " if case else ""
    if not isinstance(outputs, tuple) or len(outputs) != len(expected):
        got = f"{len(outputs)} values" if isinstance(outputs, tuple) else f"one {type(outputs).__name__}"
        raise AssertionError(f"{prefix}{function_name} must return a tuple ({', '.join(names)}), got {got}")
    for name, out, exp in zip(names, outputs, expected):
        exp = np.asarray(exp)
        if not isinstance(out, (np.ndarray, np.generic, float, int)):
            raise AssertionError(f"{prefix}{name} must be a NumPy array, got {type(out).__name__}")
        out = np.asarray(out)
        if out.shape != exp.shape:
            transposed = out.ndim == 2 and out.shape == exp.shape[::-1]
            hint = " (the transpose of the right shape)" if transposed else ""
            raise AssertionError(f"{prefix}{name} has shape {out.shape}, expected {exp.shape}{hint}")
        wanted = np.dtype(dtype) if dtype is not None else exp.dtype
        if exp.ndim and out.dtype != wanted:
            raise AssertionError(f"{prefix}{name} has dtype {out.dtype}, expected {wanted}: "
                                 "keep the dtype of the inputs (create arrays with dtype=x.dtype)")
    wrong = [name for name, out, exp in zip(names, outputs, expected) if not close(out, exp)]
    if not wrong:
        return
    for message, predicted in mistakes:
        if _matches(outputs, predicted, expected):
            raise AssertionError(f"{prefix}{message}")
    right = [name for name in names if name not in wrong]
    also = f" ({', '.join(right)} {'is' if len(right) == 1 else 'are'} right)" if right else ""
    raise AssertionError(f"{prefix}{function_name}: {', '.join(wrong)} "
                         f"{'is' if len(wrong) == 1 else 'are'} wrong{also}")
