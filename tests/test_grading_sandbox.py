"""The sandbox of the learner's kernel (rnncourse.sandbox), probed from inside.

Each test prepares a job as grading does (`sandbox.prepare_job`: the stub rnnlib, the harness,
a working folder, a cgroup where the machine gives one) and runs, with the very command line that
starts the learner's kernel (`sandbox.bwrap_argv(job)`: prlimit, bwrap, setpriv as root), a short
`python -c` probe in place of the kernel; the process joins the job's cgroup first, as
`python -m rnncourse.sandbox` does. One test starts the real kernel through
`SandboxedKernelManager`, as TrustedExecute does. Every test takes seconds.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from rnncourse import harness, sandbox

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"memory_mb": 512, "max_processes": 32, "cpu_seconds": 60, "max_file_mb": 16, "tmp_mb": 32}
GRADED = ["rnn_forward"]  # the assignment's graded function: a stub in the sandbox's rnnlib

pytestmark = pytest.mark.skipif(sandbox.available() is not None, reason=str(sandbox.available()))


class Probe:
    """A job and its command line, with `python -c code` in place of the kernel."""

    def __init__(self, folder, limits=None):
        self.job = sandbox.prepare_job(folder / "job", cwd_files=[], unavailable=GRADED, limits=limits or LIMITS)
        Path(self.job["connection_file"]).write_text("{}")  # bwrap binds it; the kernel would read it

    def argv(self, code):
        argv = sandbox.bwrap_argv(self.job)
        kernel = argv.index("ipykernel_launcher") - 2  # python -m ipykernel_launcher -f ...
        return argv[:kernel] + [argv[kernel], "-c", textwrap.dedent(code)]

    def _join_cgroup(self):
        for folder in self.job["cgroup"]:
            (Path(folder) / "cgroup.procs").write_text(str(os.getpid()))

    def start(self, code):
        return subprocess.Popen(self.argv(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=self._join_cgroup)

    def run(self, code, timeout=60):
        process = self.start(code)
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err

    def json(self, code, timeout=60):
        """The probe prints one JSON value as its last line."""
        code, out, err = self.run(code, timeout)
        assert code == 0, f"the probe exited with {code}\n{out}\n{err}"
        return json.loads(out.strip().splitlines()[-1])

    def close(self):
        sandbox.destroy_cgroup([Path(d) for d in self.job["cgroup"]])


@pytest.fixture
def probe(tmp_path):
    p = Probe(tmp_path)
    yield p
    p.close()


def host_processes(marker):
    """Pids of the host's processes whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_no_network_not_even_to_a_server_on_the_hosts_loopback(probe):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the server is reachable from the host: the sandbox is what stops the probe
        outcome = probe.json(f"""
            import json, socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                result = "connected"
            except OSError as e:
                result = type(e).__name__
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=5).close()
                outside = "connected"
            except OSError as e:
                outside = type(e).__name__
            print(json.dumps([result, outside]))
            """)
    finally:
        server.close()
    assert outcome[0] != "connected" and outcome[1] != "connected", outcome


def kernel_user(job):
    """The uid the kernel must have: as root, the job's own user (no account of the machine);
    otherwise the grading user, in a user namespace."""
    return job["uid"] if os.geteuid() == 0 else os.geteuid()


def test_runs_as_a_user_of_its_own_when_root_with_no_capabilities(probe):
    ids = probe.json("""
        import json, os
        caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
        print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), caps[0], os.getpid()]))
        """)
    expected = kernel_user(probe.job)
    assert ids[:3] == [expected, expected, expected if os.geteuid() == 0 else os.getgid()], ids
    if os.geteuid() == 0:
        assert expected != 0 and str(expected) not in [line.split(":")[2] for line in open("/etc/passwd")]
    assert int(ids[3], 16) == 0, f"capabilities left: {ids[3]}"
    assert ids[4] < 10, "its own PID namespace: it sees only its own processes"


def test_course_gradebook_other_learners_and_home_are_out_of_reach(probe, tmp_path):
    course = tmp_path / "course"
    secrets = [course / "gradebook.db", course / "source" / "rnn_forward" / "rnn_forward.ipynb",
               course / "submitted" / "other_learner" / "rnn_forward" / "rnn_forward.ipynb"]
    for path in secrets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("secret")
    home = Path.home() / f"rnn-sandbox-secret-{os.getpid()}"
    home.write_text("secret")
    targets = [*secrets, ROOT / "exercises" / "source" / "rnn_forward" / "rnn_forward.ipynb",
               ROOT / "exercises" / "nbgrader_config.py", ROOT / "rnncourse" / "sandbox.py", home,
               Path("/etc/passwd"), ROOT / ".git" / "HEAD"]
    assert all(os.path.exists(p) for p in targets[:-2]), "every target exists outside the sandbox"
    outcome = probe.json(f"""
        import json, os
        out = {{}}
        for p in {[str(p) for p in targets]!r}:
            try:
                out[p] = os.listdir(p)[:1] if os.path.isdir(p) else open(p).read(10)
            except OSError as e:
                out[p] = type(e).__name__
            try:
                open(os.path.join(p if os.path.isdir(p) else os.path.dirname(p), "pwned"), "w").write("x")
                out[p + " (write)"] = "written"
            except OSError as e:
                out[p + " (write)"] = type(e).__name__
        print(json.dumps(out))
        """)
    home.unlink()
    for target, result in outcome.items():
        assert result in ("FileNotFoundError", "PermissionError", "OSError") or result == [], (target, result)
    assert not any(p.parent.joinpath("pwned").exists() for p in secrets)


def test_torch_and_rnncourse_cannot_be_imported(probe):
    outcome = probe.json("""
        import json, importlib
        out = {}
        for name in ("torch", "rnncourse", "rnncourse.grading", "functorch"):
            try:
                importlib.import_module(name)
                out[name] = "imported"
            except ImportError as e:
                out[name] = str(e)
        print(json.dumps(out))
        """)
    assert all(v != "imported" for v in outcome.values()), outcome
    subprocess.run([sys.executable, "-c", "import torch, rnncourse"], check=True)  # they are on the host


def test_the_graded_functions_of_rnnlib_are_stubs_the_others_work(probe):
    outcome = probe.json("""
        import json
        import numpy as np
        import rnnlib
        x = np.ones((2, 3, 4)); h0 = np.zeros((2, 5)); Wx = np.ones((5, 4)); Wh = np.ones((5, 5)); b = np.zeros(5)
        try:
            rnnlib.rnn_forward(x, h0, Wx, Wh, b)
            graded = "ran"
        except NotImplementedError as e:
            graded = str(e)
        h, _ = rnnlib.rnn_step_forward(x[:, 0], h0, Wx, Wh, b)
        print(json.dumps([graded, h.shape, rnnlib.__file__]))
        """)
    assert outcome[0].startswith(harness.UNAVAILABLE) and "rnn_forward" in outcome[0], outcome
    assert outcome[1] == [2, 5]
    assert outcome[2].startswith(probe.job["lib"]), "the stub copy, not the repository's rnnlib"


def test_tmp_is_private_and_writable(probe, tmp_path):
    marker = Path("/tmp") / f"rnn-sandbox-host-{os.getpid()}"
    marker.write_text("host")
    inside = f"/tmp/rnn-sandbox-inside-{os.getpid()}"
    try:
        outcome = probe.json(f"""
            import json, os
            open({inside!r}, "w").write("x" * 1000)
            print(json.dumps([os.path.exists({str(marker)!r}), os.listdir("/tmp"), open({inside!r}).read(3)]))
            """)
    finally:
        marker.unlink()
    assert outcome[0] is False, "the host's /tmp is not the sandbox's"
    assert outcome[2] == "xxx" and os.path.basename(inside) in outcome[1]
    assert not os.path.exists(inside), "what the sandbox writes in /tmp stays there"


def test_allocating_more_than_the_memory_limit_fails(probe):
    code, out, err = probe.run(f"""
        small = bytearray(64 * 2**20)  # well within the limit
        print("SMALL", flush=True)
        try:
            big = bytearray({LIMITS['memory_mb'] + 256} * 2**20)
            big[::4096] = b"x" * len(big[::4096])  # touch every page
            print("BIG", flush=True)
        except MemoryError:
            print("MemoryError", flush=True)
        """)
    assert "SMALL" in out, (code, out, err)
    assert "BIG" not in out, "more memory than Sandbox.memory_mb was allocated"
    assert "MemoryError" in out or code != 0, (code, out, err)


def test_a_fork_loop_is_stopped(probe):
    code, out, err = probe.run("""
        import os, time
        children = 0
        try:
            while children < 5000:
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as e:
            print("STOPPED", children, type(e).__name__, flush=True)
        print("END", children, flush=True)
        os._exit(0)
        """, timeout=60)
    assert "STOPPED" in out, (code, out, err)
    children = int(out.split("STOPPED")[1].split()[0])
    # with a cgroup, at most max_processes; without one, prlimit's per-user nproc (see THREAT_MODEL)
    bound = LIMITS["max_processes"] if probe.job["cgroup"] else max(256, LIMITS["max_processes"])
    assert children < bound, children


def wait_gone(marker, seconds=10):
    deadline = time.monotonic() + seconds
    while host_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return host_processes(marker)


@pytest.mark.parametrize("how", ["the kernel exits", "the grader's child (bwrap) is killed"])
def test_children_die_with_the_kernel(probe, how):
    marker = f"{4000 + os.getpid() % 1000}.{len(how)}"  # `sleep <marker>`: findable on the host
    process = probe.start(f"""
        import subprocess, sys, time
        subprocess.Popen(["sleep", "{marker}"])
        subprocess.Popen(["sh", "-c", "sleep {marker}; true"], start_new_session=True)
        print("READY", flush=True)
        if {how == "the kernel exits"}:
            import os
            os._exit(0)
        time.sleep(600)
        """)
    try:
        assert process.stdout.readline().strip() == "READY", process.stderr.read()
        deadline = time.monotonic() + 10
        while len(host_processes(f"sleep {marker}")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        if how != "the kernel exits":
            assert host_processes(f"sleep {marker}"), "the children started"
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert not wait_gone(f"sleep {marker}"), f"children of the sandboxed process outlived it ({how})"
    finally:
        for pid in host_processes(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()


def test_the_real_kernel_starts_in_the_sandbox():
    """What TrustedExecute does: nbclient with SandboxedKernelManager runs cells in the sandbox."""
    # a short folder, as TrustedExecute's: the kernel's unix sockets are in it (~100 bytes at most)
    folder = Path(tempfile.mkdtemp(prefix="rnn-"))
    defaults = sandbox.Sandbox()  # the limits of a real grading: a kernel needs more than LIMITS' address space
    limits = {k: getattr(defaults, k) for k in LIMITS}
    job = sandbox.prepare_job(folder / "job", cwd_files=[], unavailable=GRADED, limits=limits)
    config = str(ROOT / "exercises" / "nbgrader_config.py")
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import os, socket\nprint(os.getuid(), os.getcwd())\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n    print('connected')\n"
            "except OSError as e:\n    print(type(e).__name__)\n"
            f"print(os.path.exists({config!r}))")])
        client = NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="python3",
                                km=sandbox.SandboxedKernelManager(job), resources={"metadata": {"path": job["cwd"]}})
        client.execute()
    finally:
        sandbox.destroy_cgroup([Path(d) for d in job["cgroup"]])
        shutil.rmtree(folder, ignore_errors=True)
    lines = "".join(o.get("text", "") for o in nb.cells[0].outputs).split()
    assert lines[0] == str(kernel_user(job)), nb.cells[0].outputs
    assert lines[1] == job["cwd"] and lines[2] != "connected" and lines[3] == "False", lines


def test_the_instructors_page_quotes_the_threat_model():
    """book/instructors.md shows THREAT_MODEL as `python -m rnncourse.sandbox --threat-model` prints it."""
    page = (Path(__file__).resolve().parents[1] / "book" / "instructors.md").read_text(encoding="utf-8")
    assert sandbox.THREAT_MODEL.strip() in page, "paste rnncourse.sandbox.THREAT_MODEL into book/instructors.md again"
