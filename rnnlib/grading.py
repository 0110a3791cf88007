"""What the graded exercises' test cells use to judge a learner's function.

Three jobs, shared by every assignment in exercises/source/:

- ``call_own_code``: run the learner's function and fail if it hands its work to rnnlib, torch
  or another autodiff library instead of computing the result itself (such a submission scores
  zero for that function);
- ``check_outputs``: compare the learner's outputs with the reference's, output by output
  (type, shape, dtype, values), and when a value is wrong, name the mistake: the message of the
  first known mistake whose outputs the learner's equal;
- ``close``: the comparison itself, with a tolerance that follows the dtype.

Messages never contain expected values, so feedback made from hidden tests shows none.
"""
import importlib.util
import os
import sys

import numpy as np

# Packages a graded function may not call: the course's own reference and the libraries that
# would compute a gradient for the learner.
FOREIGN_PACKAGES = ("rnnlib", "torch", "autograd", "jax", "tensorflow")


def _package_folders():
    folders = []
    for name in FOREIGN_PACKAGES:
        spec = importlib.util.find_spec(name)  # finds without importing
        if spec is not None and spec.origin:
            folders.append(os.path.dirname(os.path.abspath(spec.origin)) + os.sep)
    return tuple(folders)


_FOREIGN_FOLDERS = _package_folders()
_THIS_FILE = os.path.abspath(__file__)


def _foreign_python(code):
    filename = os.path.abspath(code.co_filename)
    return filename != _THIS_FILE and filename.startswith(_FOREIGN_FOLDERS)


def _foreign_builtin(function):
    """The package of a C function (torch.tanh) or method (tensor.tanh) if it is foreign."""
    owner = getattr(function, "__self__", None)
    for module in (getattr(function, "__module__", None), type(owner).__module__ if owner is not None else None):
        if module and module.split(".")[0] in FOREIGN_PACKAGES:
            return module
    return None


def _describe(code):
    """`rnnlib's rnn_step_forward (rnnlib/rnn.py)`, or `code that imports torch` for a module body."""
    filename = os.path.abspath(code.co_filename)
    folder = next(f for f in _FOREIGN_FOLDERS if filename.startswith(f))
    package = os.path.basename(folder.rstrip(os.sep))
    where = os.path.join(package, filename[len(folder):])
    if code.co_name == "<module>":
        return f"code that imports {package} ({where})"
    return f"{package}'s {code.co_name} ({where})"


class _Delegation(Exception):
    pass


def call_own_code(function, *args, graded_elsewhere=(), given=(), **kwargs):
    """Calls ``function(*args, **kwargs)`` and returns its result, failing if it delegates.

    Raises AssertionError naming the foreign code when the call reaches rnnlib, torch, autograd,
    jax or tensorflow, except through

    - ``graded_elsewhere``: the learner's other graded functions, which answer for their own calls
      (an ``rnn_forward`` that loops over the learner's ``rnn_step_forward`` is not blamed for what
      that step calls);
    - ``given``: functions the exercise hands out (say rnnlib's ``softmax``), which may be called.

    A call is profiled in this thread only; see the threat model in the grading guide.
    """
    excused = {f.__code__ for f in graded_elsewhere}
    allowed = {f.__code__ for f in given if hasattr(f, "__code__")}
    allowed_builtins = {id(f) for f in given if not hasattr(f, "__code__")}
    top = function.__code__ if hasattr(function, "__code__") else None
    found = []

    def blamed(frame):
        """Whether the learner's function itself (not a function graded elsewhere) made this call."""
        while frame is not None:
            if frame.f_code in excused:
                return False
            if frame.f_code is top:
                return True
            frame = frame.f_back
        return True

    def profiler(frame, event, arg):
        if found:
            return
        if event == "call" and _foreign_python(frame.f_code) and frame.f_code not in allowed:
            caller = frame.f_back
            if caller is not None and not _foreign_python(caller.f_code) and caller.f_code not in allowed \
                    and blamed(caller):
                found.append(_describe(frame.f_code))
                raise _Delegation
        elif event == "c_call" and id(arg) not in allowed_builtins and not _foreign_python(frame.f_code) \
                and frame.f_code not in allowed:
            module = _foreign_builtin(arg)
            if module and blamed(frame):
                found.append(f"{module}'s {getattr(arg, '__name__', arg)}")
                raise _Delegation

    name = getattr(function, "__name__", "the function")
    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = function(*args, **kwargs)
    except _Delegation:
        pass
    except Exception:
        if not found:
            raise
    finally:
        sys.setprofile(previous)
    if found:
        raise AssertionError(
            f"{name} runs {found[0]}: a graded function must compute its result with its own "
            "NumPy code, not rnnlib's, torch's or another library's implementation, so this test scores 0")
    return result


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
