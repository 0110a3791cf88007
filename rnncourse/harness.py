"""Calls from the trusted kernel, where the tests run, to the learner's sandboxed kernel, where
the learner's functions run, with arguments and results sent as plain data.

Grading runs a notebook in two kernels (see rnncourse.autograde). The learner's cells run in a
sandbox; at the end that kernel runs ``serve()``, which answers calls on a unix socket. The test
cells run in a kernel of their own that never executes learner code: there, every graded
function is a proxy (``install()``) that sends its arguments to the learner's kernel and returns
what came back, decoded from JSON and ``.npy`` data (``allow_pickle=False``: no pickle, no code).
Whatever the learner's code does to numpy, builtins, hooks or its own copy of this module changes
only the data it sends, and the tests judge that data with their own, untouched numpy.

This file runs in both kernels and needs only the standard library and numpy. A value that is
not plain data (an object the learner keeps in a cache, say) stays in the learner's kernel; the
tests get a ``Remote`` handle that they can pass back but not look inside.
"""
import builtins
import io
import json
import os
import signal
import socket
import struct
import time
import zipfile

import numpy as np

# The learner's functions reach rnnlib's graded functions only as stubs whose error starts with
# this (see rnncourse.sandbox): the tests report such a call as delegation.
UNAVAILABLE = "RNNCOURSE-UNAVAILABLE"
MAX_MESSAGE = 64 * 2**20  # bytes of one reply: far above any test's arrays
MAX_DEPTH = 20
CONNECT_WAIT = 300  # seconds the learner's kernel waits for the trusted one to start
NUMERIC_KINDS = "biufc"
DELEGATION = ("{name} runs {what}: a graded function must compute its result with its own NumPy code, "
              "not rnnlib's, torch's or another library's implementation, so this test scores 0")
FOREIGN = ("rnnlib", "torch", "autograd", "jax", "tensorflow")


class Remote:
    """An object that lives in the learner's kernel (not plain data): it can be passed back to the
    learner's functions, nothing else."""

    def __init__(self, handle, type_name):
        self.handle, self.type_name = handle, type_name

    def __repr__(self):
        return f"<{self.type_name} object kept in the learner's kernel>"


# ---------------------------------------------------------------------------------------------
# Encoding: JSON for the structure, one .npy per array in an uncompressed .npz

def encode(value, arrays, keep=None, callbacks=None, depth=0):
    """A JSON-able description of `value`, its arrays appended to `arrays`. `keep` (the learner's
    side) stores what is not plain data and returns its handle; `callbacks` (the trusted side)
    collects the functions a test passes (a decoder's step, say), which the learner's code then
    calls back; without them such a value raises."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind in (bool, int, float, str):
        return {"t": kind.__name__, "v": value}
    if isinstance(value, np.ndarray) and value.dtype.kind in NUMERIC_KINDS:
        arrays.append(np.array(value, copy=True, subok=False))
        return {"t": "array", "k": len(arrays) - 1}
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in NUMERIC_KINDS:
        arrays.append(np.array(value))
        return {"t": "scalar", "k": len(arrays) - 1}
    if kind in (tuple, list):
        return {"t": kind.__name__, "v": [encode(v, arrays, keep, callbacks, depth + 1) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"t": "dict", "v": {k: encode(v, arrays, keep, callbacks, depth + 1) for k, v in value.items()}}
    if isinstance(value, Remote):
        return {"t": "handle", "id": value.handle, "type": value.type_name}
    if isinstance(value, np.random.Generator):
        return {"t": "generator", "state": value.bit_generator.state}
    if callbacks is not None and callable(value):
        callbacks.append(value)
        return {"t": "callback", "id": len(callbacks) - 1}
    if keep is None:
        raise TypeError(f"cannot send a {kind.__name__} to the learner's kernel")
    return {"t": "handle", "id": keep(value), "type": kind.__name__[:100]}


def decode(obj, arrays, handles=None, call_back=None, depth=0):
    """The value `encode` described. `handles` (the learner's side) maps handles back to objects,
    and `call_back(id)` makes the function that calls a test's function back; without them (the
    trusted side) a handle becomes a Remote. Anything malformed raises ValueError."""
    if depth > MAX_DEPTH or not isinstance(obj, dict):
        raise ValueError("malformed value")
    kind = obj.get("t")
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        value = obj.get("v")
        if type(value) is not getattr(builtins, kind) and not (kind == "float" and type(value) is int):
            raise ValueError(f"malformed {kind}")
        return float(value) if kind == "float" else value
    if kind in ("array", "scalar"):
        key = obj.get("k")
        if type(key) is not int or not 0 <= key < len(arrays):
            raise ValueError("malformed array reference")
        return arrays[key] if kind == "array" else arrays[key][()]
    if kind in ("tuple", "list"):
        items = obj.get("v")
        if not isinstance(items, list):
            raise ValueError("malformed sequence")
        items = [decode(v, arrays, handles, call_back, depth + 1) for v in items]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        items = obj.get("v")
        if not isinstance(items, dict):
            raise ValueError("malformed dict")
        return {str(k): decode(v, arrays, handles, call_back, depth + 1) for k, v in items.items()}
    if kind == "generator":
        state = obj.get("state")
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise ValueError("malformed generator")
        bits = np.random.PCG64()
        bits.state = state
        return np.random.Generator(bits)
    if kind == "callback":
        if call_back is None or type(obj.get("id")) is not int:
            raise ValueError("unexpected callback")
        return call_back(obj["id"])
    if kind == "handle":
        handle, type_name = obj.get("id"), obj.get("type")
        if type(handle) is not int or not isinstance(type_name, str):
            raise ValueError("malformed handle")
        if handles is None:
            return Remote(handle, type_name[:100])
        return handles[handle]
    raise ValueError(f"unknown value type {kind!r}")


def _snapshot(value):
    """The objects of a decoded argument, kept to see afterwards what a call changed in place."""
    if type(value) in (tuple, list):
        return value, [_snapshot(v) for v in value]
    if type(value) is dict:
        return value, {k: _snapshot(v) for k, v in value.items()}
    return value, None


def _changes(value, snapshot, arrays, keep):
    """What a call made of an argument: the same object (with its new contents) or another one."""
    before, inner = snapshot
    if value is not before:
        return {"same": False, "value": encode(value, arrays, keep)}
    if isinstance(value, np.ndarray):
        return {"same": True, "value": encode(value, arrays, keep)}
    if type(value) in (tuple, list):
        return {"same": True, "items": [_changes(v, inner[i], arrays, keep) if i < len(inner)
                                        else {"same": False, "value": encode(v, arrays, keep)}
                                        for i, v in enumerate(value)]}
    if type(value) is dict:
        return {"same": True, "items": {k: _changes(v, inner[k], arrays, keep) if k in inner
                                        else {"same": False, "value": encode(v, arrays, keep)}
                                        for k, v in value.items() if type(k) is str}}
    return {"same": True}


def apply_changes(original, change, arrays, depth=0):
    """Does to the test's own argument what the learner's function did to its copy: new contents
    of the same arrays (copied in place), items replaced, added or removed in lists and dicts.
    Returns the value the argument now has."""
    if depth > MAX_DEPTH or not isinstance(change, dict):
        raise ValueError("malformed change")
    if change.get("same") is not True:
        return decode(change.get("value"), arrays)
    items = change.get("items")
    if isinstance(original, np.ndarray):
        new = decode(change.get("value"), arrays)
        if isinstance(new, np.ndarray) and new.shape == original.shape and original.flags.writeable:
            np.copyto(original, new, casting="unsafe")
    elif type(original) in (list, tuple) and isinstance(items, list):
        new = [apply_changes(original[i] if i < len(original) else None, c, arrays, depth + 1)
               for i, c in enumerate(items)]
        if type(original) is list:
            original[:] = new
    elif type(original) is dict and isinstance(items, dict):
        for key in [k for k in original if k not in items]:
            del original[key]
        for key, c in items.items():
            original[key] = apply_changes(original.get(key), c, arrays, depth + 1)
    return original


def pack(message, arrays):
    """One message: lengths, JSON, then the arrays as an uncompressed .npz."""
    data = io.BytesIO()
    if arrays:
        np.savez(data, *arrays)
    head = json.dumps(message).encode()
    return struct.pack("!QQ", len(head), data.tell()) + head + data.getvalue()


def load_arrays(data):
    """The arrays of an .npz, refusing pickles, compression (a zip bomb) and oversized members."""
    if not data:
        return []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if any(i.compress_type != zipfile.ZIP_STORED or not i.filename.endswith(".npy") for i in infos):
            raise ValueError("arrays must be stored uncompressed as .npy")
        if sum(i.file_size for i in infos) > MAX_MESSAGE:
            raise ValueError("arrays too large")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    for array in arrays:
        if array.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f"arrays must be numeric, got dtype {array.dtype}")
    return arrays


def _read_exactly(conn, size):
    chunks = []
    while size:
        chunk = conn.recv(min(size, 2**20))
        if not chunk:
            raise ConnectionError("the other kernel closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(conn):
    """(message, arrays) of one message, with the sizes checked before anything is read."""
    head_size, data_size = struct.unpack("!QQ", _read_exactly(conn, 16))
    if head_size > MAX_MESSAGE or data_size > MAX_MESSAGE:
        raise ValueError("message too large")
    message = json.loads(_read_exactly(conn, head_size))
    if not isinstance(message, dict):
        raise ValueError("malformed message")
    return message, load_arrays(_read_exactly(conn, data_size))


# ---------------------------------------------------------------------------------------------
# The learner's kernel

class _CallTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _CallTimeout()


def serve(path, namespace, call_timeout):
    """Answers calls on the unix socket `path` with the functions of `namespace` until the
    caller hangs up; each call is stopped after `call_timeout` seconds."""
    handles = {}

    def keep(value):
        handles[len(handles)] = value
        return len(handles) - 1

    # the trusted kernel listens, in a folder this kernel cannot write: no link can replace it
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            break
        except OSError:
            conn.close()
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def call_back(callback):
        def function(*args, **kwargs):
            out = []
            conn.sendall(pack({"callback": callback, "args": encode(args, out, keep),
                               "kwargs": encode(kwargs, out, keep)}, out))
            reply, arrays = receive(conn)
            if reply.get("ok") is not True:
                raise RuntimeError(f"the test's function raised {reply.get('type')}: {reply.get('message')}")
            return decode(reply.get("value"), arrays, handles, call_back)
        return function

    with conn:
        while True:
            try:
                request, arrays = receive(conn)
            except (ConnectionError, struct.error):
                return
            name = request.get("function")
            started = time.monotonic()
            try:
                function = namespace.get(name) if isinstance(name, str) else None
                if not callable(function):
                    raise NameError(f"name {name!r} is not defined")
                args = decode(request.get("args"), arrays, handles, call_back)
                kwargs = decode(request.get("kwargs"), arrays, handles, call_back)
                before = _snapshot(args)
                signal.signal(signal.SIGALRM, _alarm)
                signal.setitimer(signal.ITIMER_REAL, call_timeout)
                try:
                    result = function(*args, **kwargs)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                out = []
                reply = {"ok": True, "value": encode(result, out, keep),
                         "args": _changes(args, before, out, keep)}
            except _CallTimeout:
                out, reply = [], {"ok": False, "type": "TimeoutError", "module": "builtins",
                                  "message": f"{name} did not return within {call_timeout} s"}
            except BaseException as error:  # noqa: B036 -- SystemExit, KeyboardInterrupt too: all are data
                out, reply = [], {"ok": False, "type": type(error).__name__[:100],
                                  "module": str(type(error).__module__)[:100], "message": str(error)[:2000]}
            reply["seconds"] = time.monotonic() - started
            try:
                conn.sendall(pack(reply, out))
            except Exception as error:  # e.g. the result could not be saved
                conn.sendall(pack({"ok": False, "type": type(error).__name__, "message": str(error)[:2000]}, []))


# ---------------------------------------------------------------------------------------------
# The trusted kernel

class LearnerKernel:
    """The connection to the learner's kernel; `dead` is the reason it cannot answer, if any."""

    def __init__(self, path, call_timeout, wait=10.0, dead=None):
        self.call_timeout, self.wait, self.dead = call_timeout, wait, dead
        self.conn = None
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        os.chmod(path, 0o777)  # the learner's kernel runs as another user
        self.server.listen(1)

    def _connect(self):
        # the learner's kernel connects as soon as its cells have run, before this kernel started
        self.server.settimeout(self.wait)
        try:
            conn, _ = self.server.accept()
        except TimeoutError:
            raise ConnectionError(f"it did not connect within {self.wait:.0f} s after its cells ran") from None
        finally:
            self.server.close()
        conn.settimeout(self.call_timeout + 10)
        return conn

    def call(self, name, args, kwargs):
        if self.dead:
            raise RuntimeError(f"{name} could not be called: {self.dead}")
        arrays, callbacks = [], []
        request = pack({"function": name, "args": encode(tuple(args), arrays, callbacks=callbacks),
                        "kwargs": encode(dict(kwargs), arrays, callbacks=callbacks)}, arrays)
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.sendall(request)
            reply, arrays = receive(self.conn)
            while "callback" in reply:  # the learner's code calls a function the test passed
                self.conn.sendall(self._answer_callback(callbacks, reply, arrays))
                reply, arrays = receive(self.conn)
        except TimeoutError:
            self.dead = f"{name} did not return within {self.call_timeout + 10} s; the kernel stopped answering"
            raise TimeoutError(self.dead) from None
        except (OSError, ConnectionError, ValueError, struct.error) as error:
            self.dead = f"the notebook's kernel stopped answering ({type(error).__name__}: {error})"
            raise RuntimeError(f"{name} could not be called: {self.dead}") from None
        if reply.get("ok") is True:
            try:
                apply_changes(tuple(args), reply.get("args", {"same": True}), arrays)
                return decode(reply.get("value"), arrays)
            except (ValueError, KeyError, TypeError) as error:
                raise AssertionError(f"{name} returned something that is not plain data ({error})") from None
        raise learner_error(name, reply)


    @staticmethod
    def _answer_callback(callbacks, request, arrays):
        out = []
        try:
            index = request["callback"]
            if type(index) is not int or not 0 <= index < len(callbacks):
                raise ValueError("unknown callback")
            result = callbacks[index](*decode(request.get("args"), arrays), **decode(request.get("kwargs"), arrays))
            return pack({"ok": True, "value": encode(result, out, callbacks=callbacks)}, out)
        except Exception as error:
            return pack({"ok": False, "type": type(error).__name__, "message": str(error)[:2000]}, [])


def learner_error(name, reply):
    """The exception a test sees for an exception of the learner's code: a built-in exception of
    the same type and message, an AssertionError naming delegation, or a RuntimeError."""
    kind, message = str(reply.get("type", "Exception")), str(reply.get("message", ""))
    if message.startswith(UNAVAILABLE):
        return AssertionError(DELEGATION.format(name=name, what=message[len(UNAVAILABLE):].strip(" :")))
    if kind == "ModuleNotFoundError" and any(f"'{p}" in message for p in FOREIGN):
        return AssertionError(DELEGATION.format(name=name, what=f"code that imports {message.split()[-1]}"))
    error_class = getattr(builtins, kind, None)
    if (reply.get("module") == "builtins" and isinstance(error_class, type) and issubclass(error_class, Exception)
            and not issubclass(error_class, (SystemExit, KeyboardInterrupt, GeneratorExit))):
        return error_class(message)
    return RuntimeError(f"{name} raised {kind}: {message}")


def install(namespace, path, names, call_timeout, dead=None):
    """Defines in `namespace` a proxy for each graded function of `names`."""
    kernel = LearnerKernel(path, call_timeout, dead=dead)

    def proxy(name):
        def call(*args, **kwargs):
            return kernel.call(name, args, kwargs)
        call.__name__ = call.__qualname__ = name
        call.__doc__ = f"The learner's {name}, run in the learner's kernel."
        return call

    for name in names:
        namespace[name] = proxy(name)
    return kernel

