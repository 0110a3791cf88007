"""rnncourse.harness: what crosses from the learner's kernel to the trusted one is plain data.

The two sides run here in two processes, over a real unix socket: `serve` (the learner's side,
a forked child) with a namespace of functions, `install` (the trusted side, this process) with
proxies.
"""
import io
import multiprocessing
import os
import socket
import struct
import zipfile

import numpy as np
import pytest

from rnncourse import harness


@pytest.fixture
def learner(tmp_path):
    """Starts a learner's side serving `functions`; returns a function that makes the proxies."""
    started = []

    def start(functions, call_timeout=5):
        path = str(tmp_path / "calls")
        namespace = {}
        kernel = harness.install(namespace, path, list(functions), call_timeout)
        child = multiprocessing.get_context("fork").Process(target=harness.serve,
                                                            args=(path, dict(functions), call_timeout))
        child.start()
        started.append((kernel, child))
        return namespace

    yield start
    for kernel, child in started:
        if kernel.conn is not None:
            kernel.conn.close()
        child.join(timeout=5)
        child.kill()


def test_values_round_trip_as_plain_data(learner):
    proxies = learner({"echo": lambda *args, **kwargs: (args, kwargs)})
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    args, kwargs = proxies["echo"](x, None, 3, 2.5, "sum", True, [x], {"a": x}, np.float64(1.5), mode="concat")
    assert isinstance(args, tuple) and isinstance(args[6], list) and isinstance(args[7], dict)
    assert args[0].dtype == np.float32 and np.array_equal(args[0], x) and args[0] is not x
    assert args[1:6] == (None, 3, 2.5, "sum", True)
    assert isinstance(args[8], np.float64) and args[8] == 1.5
    assert kwargs == {"mode": "concat"}


def test_an_ndarray_subclass_that_fakes_equality_arrives_as_a_plain_array(learner):
    class AlwaysEqual(np.ndarray):
        def __eq__(self, other):
            return True

        def __array_function__(self, func, types, args, kwargs):
            return True

    proxies = learner({"fake": lambda n: np.zeros(n).view(AlwaysEqual)})
    out = proxies["fake"](3)
    assert type(out) is np.ndarray
    assert not np.allclose(out, np.ones(3)), "the trusted side compares the data, not the learner's class"


def test_an_object_that_is_not_data_stays_behind_as_a_handle(learner):
    class Cache:
        pass

    made = Cache()
    proxies = learner({"forward": lambda: (np.ones(2), made), "backward": lambda cache: cache is made})
    _, handle = proxies["forward"]()
    assert isinstance(handle, harness.Remote) and "Cache" in repr(handle)
    assert proxies["backward"](handle) is True


def test_arguments_changed_in_place_change_the_tests_arrays(learner):
    def clip(grads):
        grads["a"] *= 0.5          # in place: the test sees it
        grads["b"] = grads["b"] * 2  # a new array: the test's dict gets it, its old array is untouched

    proxies = learner({"clip": clip})
    a, b = np.ones(3), np.ones(2)
    grads = {"a": a, "b": b}
    proxies["clip"](grads)
    assert grads["a"] is a and np.allclose(a, 0.5)
    assert grads["b"] is not b and np.allclose(grads["b"], 2) and np.allclose(b, 1)


def test_a_function_argument_is_called_back_in_the_trusted_kernel(learner):
    calls = []

    def step(ids, state):
        calls.append(ids.copy())
        return np.eye(3)[ids], state + 1

    def decode(step, state, n):
        ids = np.zeros(2, dtype=np.int64)
        for _ in range(n):
            logits, state = step(ids, state)
            ids = logits.argmax(axis=1)
        return state

    proxies = learner({"decode": decode})
    assert np.allclose(proxies["decode"](step, np.zeros(2), 4), 4)
    assert len(calls) == 4


def test_a_generator_arrives_in_the_same_state(learner):
    proxies = learner({"draw": lambda rng: rng.random(3)})
    assert np.array_equal(proxies["draw"](np.random.default_rng(7)), np.random.default_rng(7).random(3))


def test_exceptions_keep_their_builtin_type_and_delegation_is_named(learner):
    def stub(*args):
        raise NotImplementedError(f"{harness.UNAVAILABLE}: rnnlib's rnn_forward")

    def torch_user():
        raise ModuleNotFoundError("No module named 'torch'")

    def exits():
        raise SystemExit(3)

    proxies = learner({"untouched": lambda: (_ for _ in ()).throw(NotImplementedError()),
                       "delegates": stub, "torch_user": torch_user, "exits": exits})
    with pytest.raises(NotImplementedError):
        proxies["untouched"]()
    with pytest.raises(AssertionError, match="delegates runs rnnlib's rnn_forward: a graded function must compute"):
        proxies["delegates"]()
    with pytest.raises(AssertionError, match="must compute its result with its own NumPy code"):
        proxies["torch_user"]()
    with pytest.raises(RuntimeError, match="exits raised SystemExit"):
        proxies["exits"]()


def test_a_call_that_does_not_return_is_stopped(learner):
    def forever():
        while True:
            pass

    proxies = learner({"forever": forever, "fine": lambda: 1}, call_timeout=1)
    with pytest.raises(TimeoutError, match="did not return within 1 s"):
        proxies["forever"]()
    assert proxies["fine"]() == 1, "the kernel answers again after a stopped call"


def test_a_dead_kernel_fails_every_call_with_its_reason(tmp_path):
    namespace = {}
    harness.install(namespace, str(tmp_path / "calls"), ["f"], 5, dead="the notebook's kernel died in cell 3")
    with pytest.raises(RuntimeError, match="died in cell 3"):
        namespace["f"]()


def npz(**members):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in members.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=True)
            archive.writestr(name, member.getvalue())
    return data.getvalue()


def test_arrays_refuse_pickles_compression_and_non_numeric_dtypes():
    with pytest.raises(ValueError, match="uncompressed"):
        harness.load_arrays(npz(**{"arr_0.npy": np.zeros(3)}))
    pickled = io.BytesIO()
    np.savez(pickled, np.array([{"code": 1}], dtype=object))
    with pytest.raises(ValueError):
        harness.load_arrays(pickled.getvalue())
    strings = io.BytesIO()
    np.savez(strings, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="numeric"):
        harness.load_arrays(strings.getvalue())
    plain = io.BytesIO()
    np.savez(plain, np.arange(3.0))
    assert np.array_equal(harness.load_arrays(plain.getvalue())[0], np.arange(3.0))


@pytest.mark.parametrize("description", [
    {"t": "array", "k": 5}, {"t": "int", "v": "3"}, {"t": "callback", "id": 0}, {"t": "pickle", "v": "x"},
    {"t": "tuple", "v": {"a": 1}}, {"t": "generator", "state": {"bit_generator": "MT19937"}}, [1, 2],
])
def test_malformed_descriptions_raise_value_error(description):
    with pytest.raises(ValueError):
        harness.decode(description, [np.zeros(1)])


def test_an_oversized_message_is_refused_before_it_is_read():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(struct.pack("!QQ", harness.MAX_MESSAGE + 1, 0))
        with pytest.raises(ValueError, match="too large"):
            harness.receive(right)


def test_the_trusted_socket_is_made_by_the_trusted_side(tmp_path):
    """The learner's side connects; it never creates the socket the trusted side uses."""
    path = tmp_path / "calls"
    harness.install({}, str(path), ["f"], 5)
    assert path.is_socket() and oct(os.stat(path).st_mode & 0o777) == "0o777"
