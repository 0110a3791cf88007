"""The sandbox of the learner's kernel: bubblewrap, prlimit and, where the machine allows, a cgroup.

`SandboxedKernelManager` is the jupyter_client kernel manager that nbclient uses for the
learner's kernel (rnncourse.autograde). Instead of the kernel it starts

    python -m rnncourse.sandbox <job>/launch.json

which puts itself into a fresh cgroup (memory and process limits for the kernel and everything
it starts, together), then execs `prlimit` (per-process limits) around `bwrap`, and inside
bwrap, when grading runs as root, `setpriv` down to a user of its own before the kernel starts. The
kernel then sees a file system made of the Python installation and the course's environment
(read-only, torch hidden), a copy of rnnlib in which the assignment's graded functions are stubs,
the grading harness, its own working folder and a private /tmp; nothing else of the machine: no
gradebook, no course folder, no other learner, no unix socket of the host, no network (not even
loopback), and only its own processes. It talks to nbclient over ZeroMQ's ipc transport, and to
the trusted kernel over one unix socket, both in a folder of the job.

See THREAT_MODEL (also on the instructors' page of the book).
"""
import ast
import json
import os
import shutil
import signal
import sys
import sysconfig
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer
from traitlets.config import Configurable

from . import harness

FIRST_KERNEL_UID = 10_000_000  # above any account's uid; plus the grading process's pid
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Packages the learner's kernel must not import: they would compute the graded results for it.
HIDDEN_PACKAGES = ("torch", "torchgen", "functorch", "rnncourse")

THREAT_MODEL = """\
Grading runs each notebook in two kernels. The learner's kernel runs the learner's cells in the
sandbox below and then only answers calls; the test cells run in a trusted kernel that never
executes learner code: each graded function there is a proxy that sends its arguments to the
learner's kernel and gets back plain data (JSON and .npy arrays, no pickle). Points, the named
mistakes and the delegation verdict are decided by the tests in the trusted kernel, with their
own numpy, and recorded by nbgrader. So patching numpy, builtins, the test helpers, sys.settrace
or IPython in the learner's kernel, returning an ndarray subclass that fakes equality, printing
text that looks like a result, or emitting an execute_result changes nothing but the learner's
own data. The hidden tests never enter the learner's kernel, so its code cannot print them.

The learner's kernel (bubblewrap; `rnncourse.sandbox --threat-model` prints this):
- File system: only the Python installation and the course's environment, read-only, with torch
  hidden; a copy of rnnlib in which this assignment's graded functions raise an error that the
  tests report as delegation (0 points for the function's tests); the harness module; a private
  writable copy of the notebook's folder and a private /tmp of bounded size. The gradebook, the
  instructor's source and solutions, the hidden tests, other learners' folders, the repository,
  the home folders and the host's unix sockets are not in it.
- Network: a new network namespace: no interface but its own loopback.
- Processes: a new PID namespace; bwrap kills the kernel and everything it started when the
  grader goes away; every process of the kernel ends with it.
- Privileges: as root, the kernel runs as a user of its own (no account, no file of the machine,
  no other kernel has it) with no capabilities and no_new_privs; otherwise as the grading user
  inside a user namespace, with no capabilities.
- Limits: with a writable cgroup (v1 or v2), the kernel and all its children together get at
  most Sandbox.memory_mb of memory and Sandbox.max_processes processes and threads (a memory or
  fork bomb kills or stops only its own kernel). prlimit sets per-process limits in addition:
  address space (memory_mb), CPU seconds, file size, no core dumps. Without a writable cgroup the
  memory limit is per process; the process limit (as root) still counts only the kernel's own
  user. Grading as another user without a cgroup sets no process limit.
- Time: each call of a learner function is stopped after TrustedExecute.call_timeout seconds,
  each cell after TrustedExecute.timeout; a kernel that stops answering fails the remaining tests.

What remains:
- A learner's functions see the inputs of the hidden tests (they must, to compute on them), but
  never the expected values, which the trusted kernel computes with rnnlib.
- CPU and memory bandwidth are shared with the other kernels on the machine: a kernel can slow
  the others down, not change their results.
- A learner's code can read what the sandbox contains: the Python installation, numpy, the stub
  copy of rnnlib (whose other functions are the course's public library).
- Kernel (operating system) vulnerabilities that escape namespaces are outside this model;
  against hostile code at scale, grade in a VM.
"""


class Sandbox(Configurable):
    """The limits of a learner's kernel; set them in nbgrader_config.py (c.Sandbox.memory_mb = ...)."""

    memory_mb = Integer(2048, help="memory of the kernel and all its processes together (MB)").tag(config=True)
    max_processes = Integer(64, help="processes and threads of one kernel").tag(config=True)
    cpu_seconds = Integer(600, help="CPU seconds of one process").tag(config=True)
    max_file_mb = Integer(64, help="size of any one file the kernel writes (MB)").tag(config=True)
    tmp_mb = Integer(128, help="size of the private /tmp and of the working folder (MB)").tag(config=True)


def available():
    """None when bubblewrap and prlimit can run here, else what is missing."""
    missing = [tool for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ())
               if shutil.which(tool) is None]
    if missing:
        return (f"grading needs {', '.join(missing)} to sandbox learners' code: install Debian's "
                f"{'bubblewrap and util-linux' if 'bwrap' in missing else 'util-linux'} (apt-get install bubblewrap)")
    return None


# ---------------------------------------------------------------------------------------------
# rnnlib as the learner's kernel sees it

def _private_helpers(tree, names):
    """The module's private functions that the functions `names` call, directly or through others."""
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    found, todo = set(), [functions[n] for n in names if n in functions]
    while todo:
        for node in ast.walk(todo.pop()):
            name = node.id if isinstance(node, ast.Name) else None
            if name and name.startswith("_") and name in functions and name not in found:
                found.add(name)
                todo.append(functions[name])
    return found


def stubbed_rnnlib(target, graded):
    """Copies rnnlib into `target`/rnnlib with every top-level function named in `graded`, and
    the private helpers they call, replaced by one that raises the harness's UNAVAILABLE error."""
    import rnnlib
    source = Path(rnnlib.__file__).parent
    folder = Path(target) / "rnnlib"
    folder.mkdir(parents=True)
    for path in sorted(source.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hidden = set(graded) | _private_helpers(tree, graded)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in hidden:
                message = f"{harness.UNAVAILABLE}: rnnlib's {node.name}"
                node.body = [ast.Raise(ast.Call(ast.Name("NotImplementedError", ast.Load()),
                                                [ast.Constant(message)], []), None)]
                node.decorator_list = []
        (folder / path.name).write_text(ast.unparse(ast.fix_missing_locations(tree)), encoding="utf-8")
    return folder.parent


# ---------------------------------------------------------------------------------------------
# cgroups: one per kernel, for memory and processes together

def _cgroup_dirs(name):
    """The folders of a new cgroup `name` for memory and pids (v2 or v1), or [] when not writable."""
    unified = CGROUP_ROOT / "cgroup.controllers"
    if unified.is_file():
        controllers = unified.read_text().split()
        if {"memory", "pids"} <= set(controllers):
            return [CGROUP_ROOT / name]
        return []
    dirs = [CGROUP_ROOT / "memory" / name, CGROUP_ROOT / "pids" / name]
    return dirs if all(d.parent.is_dir() and os.access(d.parent, os.W_OK) for d in dirs) else []


def create_cgroup(name, memory_mb, max_processes):
    """Makes the cgroup; returns its folders ([] when the machine gives none)."""
    made = []
    try:
        for folder in _cgroup_dirs(name):
            folder.mkdir()
            made.append(folder)
            limits = {"memory.max": memory_mb * 2**20, "memory.swap.max": 0, "pids.max": max_processes,
                      "memory.limit_in_bytes": memory_mb * 2**20, "memory.memsw.limit_in_bytes": memory_mb * 2**20}
            for key, value in limits.items():
                if (folder / key).exists():
                    (folder / key).write_text(str(value))
    except OSError:
        destroy_cgroup(made)
        return []
    return made


def destroy_cgroup(dirs):
    """Kills whatever is left in the cgroup and removes it."""
    for folder in dirs:
        for _ in range(50):
            try:
                pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        try:
            folder.rmdir()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The command line that starts the learner's kernel

def _system_binds():
    """bwrap arguments for /usr and the top-level links or folders into it (Debian's merged /usr)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def bwrap_argv(job):
    """The whole command: prlimit, bwrap, (setpriv), the kernel."""
    limits = job["limits"]
    as_root = os.geteuid() == 0
    prefixes = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)})
    # the process limit counts a user's processes: set it only for the kernel's own user
    nproc = [f"--nproc={limits['max_processes']}"] if as_root else []
    argv = ["prlimit", f"--as={limits['memory_mb'] * 2**20}", f"--cpu={limits['cpu_seconds']}",
            f"--fsize={limits['max_file_mb'] * 2**20}", "--core=0", *nproc,
            "--", "bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    # as root, no user namespace: setpriv then drops to the kernel's user (in one, it would not be mapped)
    argv += (["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
             if as_root else ["--unshare-all"])
    # the private /tmp first: the environment or the job may live under /tmp, and go on top of it
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits["tmp_mb"] * 2**20),
             "--tmpfs", "/tmp"]
    argv += _system_binds()
    for prefix in prefixes:
        argv += ["--ro-bind", prefix, prefix]
    site = sysconfig.get_paths()["purelib"]
    for name in HIDDEN_PACKAGES:
        if os.path.isdir(os.path.join(site, name)):
            argv += ["--tmpfs", os.path.join(site, name)]
    argv += ["--ro-bind", job["lib"], job["lib"], "--bind", job["ipc"], job["ipc"],
             "--bind", job["cwd"], job["cwd"], "--chdir", job["cwd"],
             "--ro-bind", job["connection_file"], job["connection_file"]]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONPATH": job["lib"],
           "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "JUPYTER_PLATFORM_DIRS": "1", "IPYTHONDIR": "/tmp/ipython"}
    for key, value in env.items():
        argv += ["--setenv", key, value]
    # the folders bwrap makes on the way to a mount point are 0700, which the kernel's user could not pass:
    # make them 0755 first, right before each mount (a later tmpfs /tmp would hide earlier ones)
    opened, i = argv[:argv.index("--clearenv") + 1], argv.index("--clearenv") + 1
    while i < len(argv):
        if argv[i] in ("--ro-bind", "--bind"):
            for folder in reversed(Path(argv[i + 2]).parents[:-1]):
                opened += ["--perms", "0755", "--dir", str(folder)]
        opened.append(argv[i])
        i += 1
    argv = opened
    argv.append("--")
    if as_root:
        argv += ["setpriv", f"--reuid={job['uid']}", f"--regid={job['uid']}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    python = os.path.join(sys.prefix, "bin", "python")
    argv += [python, "-m", "ipykernel_launcher", "-f", job["connection_file"],
             "--HistoryManager.hist_file=:memory:"]
    return argv


def launch(job_file):
    """The launcher's process: join the cgroup, then become the sandboxed kernel."""
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    for folder in job["cgroup"]:
        (Path(folder) / "cgroup.procs").write_text(str(os.getpid()))
    argv = bwrap_argv(job)
    os.execvp(argv[0], argv)


# ---------------------------------------------------------------------------------------------
# The kernel manager nbclient uses for the learner's kernel

class SandboxedKernelManager(AsyncKernelManager):
    """Starts the learner's kernel in the sandbox described by `job` (see `prepare_job`)."""

    def __init__(self, job, **kwargs):
        self.job = job
        super().__init__(transport="ipc", ip=os.path.join(job["ipc"], "k"),
                         connection_file=job["connection_file"], **kwargs)
        # an interrupt goes as a message: a signal would reach bwrap, not the kernel
        self._kernel_spec = KernelSpec(argv=["python"], display_name="sandboxed learner kernel",
                                       language="python", interrupt_mode="message")

    def format_kernel_cmd(self, extra_arguments=None):
        # called right after the connection file is written: the kernel (another user) must read it
        os.chmod(self.connection_file, 0o644)
        return [sys.executable, "-m", "rnncourse.sandbox", os.path.join(self.job["dir"], "launch.json")]


def given_functions(locked_sources):
    """The rnnlib functions that the instructor's cells import by name (`from rnnlib import ...`):
    the exercise hands them out, so the learner's code may call them."""
    names = set()
    for text in locked_sources:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module == "rnnlib" for alias in node.names}
    return names


def unavailable_functions(graded, locked_sources):
    """What rnnlib must not do for the learner: the assignment's graded functions, and every
    function some exercise grades (a GRU step with its gates pinned is an RNN step), unless the
    assignment hands it out."""
    import rnnlib
    return sorted(set(graded) | (set(rnnlib.EXERCISE_CONTRACTS) - given_functions(locked_sources)))


def kernel_uid():
    """The user a learner's kernel runs as, when grading runs as root: one that no other account
    and no other kernel running at the same time has (each grading process runs one kernel at
    a time), so the process limit counts only this kernel's processes and no file of the
    machine belongs to it."""
    return FIRST_KERNEL_UID + os.getpid()


def prepare_job(folder, *, cwd_files, unavailable, limits):
    """The folders of one learner kernel under `folder`: lib/ (the harness and rnnlib with the
    functions `unavailable` as stubs, read-only), ipc/ (its sockets), cwd/ (its working folder,
    with copies of `cwd_files`). The kernel runs as a user of its own (see kernel_uid)."""
    folder = Path(folder)
    lib, ipc, cwd = folder / "lib", folder / "ipc", folder / "cwd"
    for path in (lib, ipc, cwd):
        path.mkdir(parents=True)
    stubbed_rnnlib(lib, set(unavailable))
    shutil.copy(harness.__file__, lib / "rnncourse_harness.py")
    for name in HIDDEN_PACKAGES:  # found before the (covered) real ones: importing them fails
        (lib / name).mkdir()
        (lib / name / "__init__.py").write_text(f"raise ImportError({harness.UNAVAILABLE + ': ' + name!r})\n")
    for path in cwd_files:
        shutil.copyfile(path, cwd / Path(path).name, follow_symlinks=False)
    for path in (folder, lib):
        os.chmod(path, 0o755)
    uid = kernel_uid()
    if os.geteuid() == 0:
        for path in (ipc, cwd, *cwd.iterdir()):
            os.chown(path, uid, uid)
    name = f"rnncourse-{os.getpid()}-{folder.name}-{time.monotonic_ns() % 10**9}"
    cgroup = create_cgroup(name, limits["memory_mb"], limits["max_processes"])
    job = {"dir": str(folder), "lib": str(lib), "ipc": str(ipc), "cwd": str(cwd),
           "connection_file": str(ipc / "kernel.json"), "socket": str(lib / "calls"),
           "cgroup": [str(d) for d in cgroup], "limits": limits, "uid": uid}
    (folder / "launch.json").write_text(json.dumps(job), encoding="utf-8")
    return job


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--threat-model"]:
        print(THREAT_MODEL)
        return
    if len(argv) != 1:
        sys.exit("usage: python -m rnncourse.sandbox <job>/launch.json | --threat-model")
    launch(argv[0])


if __name__ == "__main__":
    main()
