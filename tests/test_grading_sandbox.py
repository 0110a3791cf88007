"""The grading sandbox (exercises/tools/sandbox.py) under the real `nbgrader autograde`.

A tiny course (one assignment: a solution cell `answer = 42` and a 1-point test cell) is released
once; submissions are that notebook with probe cells put in front. Each isolation level gets one
`nbgrader autograde` run (the three run at the same time) with the environment and flags of
sandbox.prepare(); the probe cells print what they could do as JSON, which the tests read from
the autograded notebooks, and the gradebook shows who was graded.

- "full" (root + unshare, as in CI): the kernel runs as nobody without capabilities, in its
  own PID namespace; no TCP to a server this test runs on 127.0.0.1, no DNS, no outside
  connection; hidden paths (a fake gradebook.db, the source notebook, submitted/, the scratch
  gradebook, another student's graded folder) neither readable nor writable, and unchanged;
  the kernel writes its own folder (a private copy) and nowhere else; a process it leaves
  running dies with it; a 50 GB allocation fails with MemoryError; numpy and rnnlib import;
  sys.exit, os._exit and an endless cell (stopped by --Execute.timeout=5) leave the grading
  of everybody else intact.
- "namespaces" (`unshare -rmn`, tried as root here): the same isolation checks, with the whole
  course folder hidden (the kernel's own folder inside it stays).
- "limits": resource limits only; as controls, its kernel DOES reach the test's server and its
  leftover process DOES survive, which shows those probes would see a failure.

The full and namespaces courses live outside /tmp (in the repository's git-ignored
.pytest_cache), as the real exercises/ folder does, so their hidden paths are in the kernel's
sight and must be covered, not merely left behind in the host's /tmp.
"""
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
EXERCISES = REPO / "exercises"
spec = importlib.util.spec_from_file_location("grading_sandbox", EXERCISES / "tools" / "sandbox.py")
sandbox = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)

ASSIGNMENT = "sbx"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SECRET = "SECRET-7f3a9c"  # in every hidden file; no probe output may contain it
MARK = "SANDBOX-PROBE:"
LEFTOVER = "sandbox-leftover-3c9e"  # in the command line of a process a probe leaves running
LEVEL = sandbox.isolation_level()


def nbgrader_cell(source, **meta):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False,
                                 "grade": False, "task": False, **meta}
    return cell


def source_notebook():
    nb = new_notebook(cells=[
        nbgrader_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", solution=True,
                      grade_id="answer"),
        nbgrader_cell("assert answer == 42", grade=True, locked=True, points=1, grade_id="check"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def report(name, body):
    """A probe cell: runs body (which fills dict `r`), prints it as one JSON line."""
    return (f"import json as _json\nr = {{}}\n{body}\n"
            f"print({MARK!r} + _json.dumps({{{name!r}: r}}))")


NET_PROBE = report("net", """
import socket, os
def attempt(f):
    try:
        return "ok: " + str(f())
    except Exception as e:
        return f"{type(e).__name__}: {e}"
def tcp(host, port):
    s = socket.create_connection((host, port), timeout=3)
    s.sendall(b"from the kernel")
    s.close()
    return host
r["tcp_loopback"] = attempt(lambda: tcp("127.0.0.1", PORT))
r["dns"] = attempt(lambda: socket.getaddrinfo("example.com", 80))
r["outside"] = attempt(lambda: tcp("1.1.1.1", 53)) if FULL_NET else "skipped"
r["uid"] = os.getuid()
r["environ"] = dict(os.environ)
from ipykernel import get_connection_file
connection = _json.load(open(get_connection_file()))
r["transport"] = [connection["transport"], connection["ip"]]
r["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:20]
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
r["privileges"] = {k: status[k].strip() for k in ["CapEff", "CapPrm", "CapInh", "CapBnd", "NoNewPrivs"]}
import resource
r["limits"] = {k: resource.getrlimit(getattr(resource, "RLIMIT_" + k)) for k in ["AS", "CPU", "FSIZE", "CORE", "NPROC"]}
import subprocess, sys
# A process meant to outlive the kernel: its own session, so the grader's signals miss it.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", LEFTOVER], start_new_session=True)
""")

HIDDEN_PROBE = report("hidden", """
import os
def attempt(f):
    try:
        return "ok: " + str(f())
    except Exception as e:
        return f"{type(e).__name__}: {e}"
def read(p):
    return open(p, errors="replace").read() if os.path.isfile(p) else os.listdir(p)
def append(p):
    if os.path.isdir(p):
        p = os.path.join(p, "evil.txt")
    with open(p, "a") as f:
        f.write("overwritten by a student")
    return p
for p in HIDDEN:
    r["read " + p] = attempt(lambda: read(p))
    r["write " + p] = attempt(lambda: append(p))
r["write own folder"] = attempt(lambda: open("own.txt", "w").write("mine"))
r["read own folder"] = attempt(lambda: open("own.txt").read())
r["sees its notebook"] = attempt(lambda: os.path.isfile(NOTEBOOK))
r["write outside"] = attempt(lambda: open("../escape.txt", "w").write("escaped"))
r["write course"] = attempt(lambda: open(COURSE + "/escape.txt", "w").write("escaped"))
r["write repository"] = attempt(lambda: open(REPO + "/escape.txt", "w").write("escaped"))
""")

IMPORT_PROBE = report("imports", """
import numpy, rnnlib
hs, _ = rnnlib.rnn_forward(numpy.ones((1, 2, 3)), None, numpy.ones((4, 3)), numpy.ones((4, 4)), numpy.zeros(4))
r["shape"] = list(hs.shape)
r["rnnlib"] = rnnlib.__file__
""")

MEMORY_BOMB = "import numpy\nbomb = numpy.ones(50 * 2**30 // 8)  # 50 GB\nprint('allocated')"
SYS_EXIT = "import sys\nsys.exit(1)"
OS_EXIT = "import os\nos._exit(3)"
LOOP = "import time\nwhile True:  # forever, without burning the CPU the other tests need\n    time.sleep(0.05)"


class Server:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    self.received.append(b"")

    def close(self):
        self.sock.close()


def nbgrader_command(course, args, env_add=None):
    """(argv, env) of the nbgrader CLI of this Python in the course, as the pipeline test runs it."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name, folder in [("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython")]:
        env[name] = str(course.parent / folder)
    env.pop("JUPYTER_PATH", None)
    env["MPLBACKEND"] = "Agg"
    env.update(env_add or {})
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    return [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.db_url={db_url}"], env


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A course folder with the assignment released and in its gradebook (copied per level)."""
    course = tmp_path_factory.mktemp("sandbox_release") / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(source_notebook(), course / "source" / ASSIGNMENT / NOTEBOOK)
    command, env = nbgrader_command(course, ["generate_assignment", ASSIGNMENT])
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return course


def leftovers(marker):
    """Host PIDs of processes whose command line holds marker."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def digest(paths):
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out[str(path)] = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return out


class Run:
    """One sandboxed `nbgrader autograde` of `students` (name -> probe cells) in a copy of the course."""

    def __init__(self, released, base, level, students, timeout=None, hide_course=False):
        self.level, self.students = level, students
        self.course = course = base / "course"
        shutil.copytree(released, course)
        (course / "secret").mkdir()
        fake_db = course / "secret" / "gradebook.db"
        fake_db.write_text(f"{SECRET} grades of everybody")
        source = course / "source" / ASSIGNMENT / NOTEBOOK
        source.write_text(source.read_text().replace("answer = 42", f"answer = 42  # {SECRET}"))
        # Another student's graded folder, under own_root but not the kernel's own folder.
        other = course / "autograded" / "zz_other" / ASSIGNMENT / "other.txt"
        other.parent.mkdir(parents=True)
        other.write_text(f"{SECRET} another student's work")
        # Hidden: the paths one by one, or the whole course folder (own_root lies inside it).
        hidden = ([course] if hide_course else
                  [course / "gradebook.db", course / "source", course / "submitted", course / "secret"])
        self.watched = [fake_db, course / "source", course / "submitted", other]
        self.server = Server()
        settings = {"NOTEBOOK": NOTEBOOK, "LEFTOVER": f"{LEFTOVER}-{level}", "PORT": self.server.port, "FULL_NET": level != "limits", "COURSE": str(course),
                    "REPO": str(REPO), "HIDDEN": [str(p) for p in [fake_db, source, course / "source",
                                                                    course / "submitted", course / "gradebook.db",
                                                                    other, other.parent.parent]]}
        header = "".join(f"{k} = {v!r}\n" for k, v in settings.items())
        release = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
        for student, probes in students.items():
            nb = nbformat.from_dict(json.loads(json.dumps(release)))
            answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer")
            answer.source = "answer = 42"
            nb.cells[:0] = [new_code_cell(header)] + [new_code_cell(p) for p in probes]
            if "other_kernel" in student:  # names a kernel outside the sandbox
                nb.metadata["kernelspec"] = {"name": "python3-unsandboxed", "display_name": "x",
                                             "language": "python"}
            folder = course / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / NOTEBOOK)
        self.before = digest(self.watched)
        self.scratch = base / "scratch"
        self.env, self.flags = sandbox.prepare(self.scratch, own_root=course / "autograded", hidden=hidden,
                                               memory_mb=2048, cpu_seconds=60, level=level)
        flags = [*self.flags, f"--Execute.timeout={timeout}"] if timeout else self.flags
        # A secret in the grader's environment (as a database password would be).
        command, env = nbgrader_command(course, ["autograde", ASSIGNMENT, "--create", *flags],
                                        {**self.env, "GRADER_DB_PASSWORD": SECRET})
        self.process = subprocess.Popen(command, cwd=course, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)

    def finish(self):
        try:
            self.log, _ = self.process.communicate(timeout=300)
        finally:
            self.server.close()
        self.returncode = self.process.returncode
        self.leftovers = leftovers(f"{LEFTOVER}-{self.level}")
        self.received = self.server.received
        self.after = digest(self.watched)
        from nbgrader.api import Gradebook
        self.scores = {}
        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb:
            for student in self.students:
                try:
                    self.scores[student] = gb.find_submission(ASSIGNMENT, student).score
                except Exception as e:  # noqa: BLE001 -- the tests that read it say what is missing
                    self.scores[student] = repr(e)
        self.results, self.notebooks = {}, {}
        for student in self.students:
            path = self.course / "autograded" / student / ASSIGNMENT / NOTEBOOK
            nb = nbformat.read(path, as_version=4) if path.is_file() else None
            self.notebooks[student] = nb
            for cell in nb.cells if nb else []:
                for out in cell.get("outputs", []):
                    for line in out.get("text", "").splitlines():
                        if line.startswith(MARK):
                            self.results.setdefault(student, {}).update(json.loads(line[len(MARK):]))
        return self


LEVELS_ORDER = ["full", "namespaces", "limits"]
REQUIRES = {"full": "root and util-linux unshare with network, mount and PID namespaces",
            "namespaces": "util-linux unshare and unprivileged user namespaces", "limits": "nothing"}


def available(level):
    return LEVELS_ORDER.index(LEVEL) <= LEVELS_ORDER.index(level)


@pytest.fixture(scope="module")
def runs(released, tmp_path_factory):
    """The three levels' autograde runs, started together (they mostly wait on kernels)."""
    # Like the real course, outside /tmp (which a kernel sees as an empty private folder), so the
    # hidden paths are in sight and must be covered: at "full" one by one, at "namespaces" by
    # hiding the whole course folder (the kernel's own folder inside it stays).
    holder = REPO / ".pytest_cache"
    holder.mkdir(exist_ok=True)
    full_base = Path(tempfile.mkdtemp(prefix="grading-sandbox-", dir=holder))
    full_base.chmod(0o755)  # as open as exercises/ (else the sandbox covers all of it as untraversable)
    (full_base / "full").mkdir()
    started = {}
    try:
        if available("full"):
            started["full"] = Run(released, full_base / "full", "full", {
                "b_probe": [NET_PROBE, HIDDEN_PROBE, IMPORT_PROBE, MEMORY_BOMB, SYS_EXIT, LOOP],
                "c_os_exit": [OS_EXIT],
                "e_other_kernel": [NET_PROBE],
                "d_after": [],
            }, timeout=5)
        if available("namespaces"):
            ns_base = full_base / "namespaces"
            ns_base.mkdir()
            started["namespaces"] = Run(released, ns_base, "namespaces",
                                        {"b_probe": [NET_PROBE, HIDDEN_PROBE, IMPORT_PROBE]}, hide_course=True)
        started["limits"] = Run(released, tmp_path_factory.mktemp("sandbox_limits"), "limits",
                                {"b_probe": [NET_PROBE, MEMORY_BOMB]})
        yield {level: run.finish() for level, run in started.items()}
    finally:
        for run in started.values():
            if run.process.poll() is None:
                run.process.kill()
            for pid in getattr(run, "leftovers", []):  # the limits control's process
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(full_base, ignore_errors=True)


def level_run(runs, level):
    if level not in runs:
        pytest.skip(f"isolation level {level!r} is not available on this machine: "
                    f"the strongest is {LEVEL!r} ({level!r} needs {REQUIRES[level]})")
    return runs[level]


@pytest.fixture
def full(runs):
    return level_run(runs, "full")


@pytest.fixture
def namespaces(runs):
    return level_run(runs, "namespaces")


@pytest.fixture
def limits(runs):
    return level_run(runs, "limits")


def probe(run, name, student="b_probe"):
    results = run.results.get(student, {})
    assert name in results, f"probe {name!r} printed nothing\n{run.log}"
    return results[name]


def refused(outcome):
    return not outcome.startswith("ok")


def errors_of(nb, marker=None):
    """enames of the error outputs of nb's cells (only cells whose source contains marker)."""
    return [o.ename for c in nb.cells if marker is None or marker in c.source
            for o in c.get("outputs", []) if o.output_type == "error"]


def assert_isolated(run):
    """No network, hidden paths neither read nor written, own folder writable, imports work."""
    net = probe(run, "net")
    assert refused(net["tcp_loopback"]) and refused(net["dns"]) and refused(net["outside"]), net
    assert run.received == [], "the kernel reached the grader's 127.0.0.1"
    assert max(net["pids"]) < 10, f"the kernel sees the host's processes: {net['pids']}"
    assert run.leftovers == [], "a process the kernel started outlived it"
    assert SECRET not in json.dumps(net["environ"]), "the grader's environment reached the kernel"
    no_caps = "0000000000000000"
    assert net["privileges"] == {"CapEff": no_caps, "CapPrm": no_caps, "CapInh": no_caps,
                                 "CapBnd": no_caps, "NoNewPrivs": "1"}, net["privileges"]
    hidden = probe(run, "hidden")
    for what, outcome in hidden.items():
        assert SECRET not in outcome, f"{what}: {outcome}"
        if what.startswith("write ") and what != "write own folder":
            assert refused(outcome), f"{what}: {outcome}"
    assert run.before == run.after, "a hidden file changed"
    assert not (run.course / "autograded" / "b_probe" / "escape.txt").exists()
    assert not (run.course / "escape.txt").exists() and not (REPO / "escape.txt").exists()
    assert hidden["write own folder"] == "ok: 4" and hidden["read own folder"] == "ok: mine"
    assert hidden["sees its notebook"] == "ok: True"
    # It wrote a private copy of its folder, emptied when the kernel ended: the folder where
    # nbgrader writes the graded notebook holds nothing the kernel made.
    assert not (run.course / "autograded" / "b_probe" / ASSIGNMENT / "own.txt").exists()
    copies = list((run.scratch / "sandbox" / "work").iterdir())
    assert len(copies) == 1 and list(copies[0].iterdir()) == [], copies
    imports = probe(run, "imports")
    assert imports["shape"] == [1, 2, 4]
    assert imports["rnnlib"].startswith(str(REPO / "rnnlib"))


# ---------------------------------------------------------------- what prepare() hands nbgrader


def test_prepare_writes_a_python3_kernel_spec_and_ipc_flags(tmp_path):
    env, flags = sandbox.prepare(tmp_path, own_root=tmp_path / "autograded", hidden=[tmp_path / "x"],
                                 level="limits")
    spec_file = Path(env["JUPYTER_PATH"].split(os.pathsep)[0]) / "kernels" / "python3" / "kernel.json"
    kernel = json.loads(spec_file.read_text())
    assert kernel["argv"][:2] == [sys.executable, str((EXERCISES / "tools" / "sandbox.py").resolve())]
    assert "{connection_file}" in kernel["argv"]
    assert "--KernelManager.transport=ipc" in flags and "--Execute.kernel_name=python3" in flags
    ip = next(f.split("=", 1)[1] for f in flags if f.startswith("--KernelManager.ip="))
    assert os.path.isabs(ip) and len(ip) < 95
    assert LEVEL in sandbox.LEVELS
    for level in sandbox.LEVELS:
        assert f"`{level}`" in sandbox.THREAT_MODEL
    with pytest.raises(ValueError):
        sandbox.prepare(tmp_path, own_root=tmp_path, hidden=[], level="chroot")


def test_sockets_of_a_deep_scratch_folder_go_to_a_short_path_and_cleanup_removes_it(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    env, flags = sandbox.prepare(deep, own_root=deep, hidden=[], level="limits")
    ip = Path(next(f.split("=", 1)[1] for f in flags if f.startswith("--KernelManager.ip=")))
    assert len(str(ip)) < 95 and ip.parent.is_dir() and not str(ip).startswith(str(tmp_path))
    config = json.loads((deep / "sandbox" / "config.json").read_text())
    assert config["socket_dir"] == str(ip.parent)
    sandbox.cleanup(deep)
    assert not ip.parent.exists()


def test_a_level_stronger_than_the_machine_allows_is_refused(tmp_path):
    stronger = sandbox.LEVELS[: sandbox.LEVELS.index(LEVEL)]
    if not stronger:
        pytest.skip(f"nothing is stronger than this machine's level, {LEVEL!r}")
    with pytest.raises(ValueError):
        sandbox.prepare(tmp_path, own_root=tmp_path, hidden=[], level=stronger[0])


# ---------------------------------------------------------------- full: root + unshare


def test_full_kernel_runs_as_nobody_in_its_own_namespaces(full):
    assert probe(full, "net")["uid"] == sandbox.NOBODY
    # Also for a submission whose metadata names another kernel.
    other = probe(full, "net", "e_other_kernel")
    assert other["uid"] == sandbox.NOBODY and refused(other["tcp_loopback"]), other
    assert full.scores["e_other_kernel"] == 1


def test_nbgrader_flags_reach_the_kernel_manager_ipc_transport(runs):
    """--KernelManager.transport/ip reach the manager nbclient makes in nbgrader's Execute."""
    for level, run in runs.items():
        ip = next(f.split("=", 1)[1] for f in run.flags if f.startswith("--KernelManager.ip="))
        assert probe(run, "net")["transport"] == ["ipc", ip], level


def test_resource_limits_reach_the_kernel(runs):
    mb = 1024 * 1024
    for level, run in runs.items():
        limits = probe(run, "net")["limits"]
        assert limits["AS"] == [2048 * mb] * 2 and limits["FSIZE"] == [200 * mb] * 2, (level, limits)
        assert limits["CPU"] == [60, 65] and limits["CORE"] == [0, 0], (level, limits)
        if level == "full":
            nproc = max(1024, 64 * (os.cpu_count() or 1))
            assert limits["NPROC"] == [nproc, nproc], limits
        environ = probe(run, "net")["environ"]
        assert environ["OMP_NUM_THREADS"] == environ["OPENBLAS_NUM_THREADS"] == "1", (level, environ)


GRADER = """
import sys, time
from pathlib import Path
from jupyter_client.manager import KernelManager
from traitlets.config import Config
sys.path.insert(0, sys.argv[1])
import sandbox
scratch = Path(sys.argv[2])
own = scratch / "autograded" / "student" / "assignment"
own.mkdir(parents=True)
env, flags = sandbox.prepare(scratch, own_root=scratch / "autograded", hidden=[], level="full")
import os
os.environ.update(env)
config = Config()
for flag in flags:
    key, value = flag[2:].split("=", 1)
    config[key.split(".")[0]][key.split(".")[1]] = value
km = KernelManager(kernel_name="python3", config=config)
km.start_kernel(cwd=str(own))
client = km.client()
client.start_channels()
client.wait_for_ready(timeout=60)
print("ready", flush=True)
time.sleep(120)
"""


def test_full_kernel_ends_when_its_grader_is_killed(tmp_path):
    """A grader killed outright (e.g. by a timeout) takes its sandboxed kernel with it."""
    if not available("full"):
        level_run({}, "full")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(EXERCISES / "tools"), str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = grader.stdout.readline()
        assert line.strip() == "ready", line + grader.stdout.read()
        assert leftovers(str(tmp_path)), "no sandbox process to watch"
        grader.kill()
        grader.wait()
        for _ in range(100):
            if not leftovers(str(tmp_path)):
                break
            time.sleep(0.1)
        assert leftovers(str(tmp_path)) == [], "the kernel outlived its grader"
    finally:
        if grader.poll() is None:
            grader.kill()


def test_full_no_network(full):
    net = probe(full, "net")
    assert refused(net["tcp_loopback"]) and refused(net["dns"]) and refused(net["outside"]), net
    assert full.received == [], "the kernel reached the grader's 127.0.0.1"


def test_full_hidden_paths_unreadable_unwritable_unchanged_own_folder_writable(full):
    assert_isolated(full)


def test_full_memory_bomb_fails_and_grading_goes_on(full):
    assert errors_of(full.notebooks["b_probe"], "bomb") == ["MemoryError"]
    assert full.scores["b_probe"] == 1 and full.scores["d_after"] == 1, full.scores


def test_full_exits_and_endless_cell_do_not_break_grading(full):
    nb = full.notebooks["b_probe"]
    # sys.exit is an exception in IPython; the endless cell was interrupted after 5 s; then the
    # test cell ran and passed.
    assert errors_of(nb, "sys.exit") == ["SystemExit"]
    assert errors_of(nb, "while True")[:1] in (["CellTimeoutError"], ["KeyboardInterrupt"]), errors_of(nb)
    assert full.scores["b_probe"] == 1
    # os._exit kills the kernel: nbgrader reports that submission as failed (exit code 1), and
    # grades the others, before and after it.
    assert "error processing assignment 'sbx' for student 'c_os_exit'" in full.log
    assert full.log.count("There was an error processing assignment '") == 1, full.log
    assert full.scores["d_after"] == 1, full.scores


# ---------------------------------------------------------------- namespaces: unshare -rmn


def test_namespaces_no_network_hidden_paths_covered(namespaces):
    assert_isolated(namespaces)
    assert namespaces.returncode == 0 and namespaces.scores["b_probe"] == 1, namespaces.log


# ---------------------------------------------------------------- limits only


def test_limits_memory_bomb_fails_but_network_remains(limits):
    assert limits.returncode == 0, limits.log
    assert errors_of(limits.notebooks["b_probe"], "bomb") == ["MemoryError"]
    assert limits.scores["b_probe"] == 1, limits.scores
    # The controls: without namespaces the same probe reaches the test's server, and the
    # process it left running is still there (THREAT_MODEL); the environment is cleaned.
    assert probe(limits, "net")["tcp_loopback"] == "ok: 127.0.0.1"
    assert limits.received == [b"from the kernel"]
    assert SECRET not in json.dumps(probe(limits, "net")["environ"])
    assert limits.leftovers, "the control process is gone: the leftover check would prove nothing"
