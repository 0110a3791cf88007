"""Isolation of the kernels that execute students' notebooks during `nbgrader autograde`.

nbgrader's Execute preprocessor starts the kernel named by the notebook's kernel spec
("python3") through jupyter_client. `prepare()` writes a kernel spec of that name into a private
Jupyter data folder; with `JUPYTER_PATH` pointing there it wins over the default one, and its
argv runs this file as a wrapper around ipykernel:

    python sandbox.py --kernel {connection_file} --config <scratch>/sandbox/config.json

The wrapper sets resource limits, then (when the OS allows it) re-executes itself in new
network, mount and PID namespaces (`unshare`), covers what the kernel must not see, and forks:
a root supervisor stays as PID 1 while the child drops its privileges and execs
`python -m ipykernel_launcher -f <connection file>` with the same Python. In a new network
namespace there is no loopback to the grader, so the kernel talks to nbgrader over unix
sockets: `prepare()` also returns the command-line flags that switch jupyter_client's
KernelManager (the class nbclient instantiates with nbgrader's config) to the IPC transport in
a socket folder the kernel can write, and that make every notebook use this kernel.

Usage (by the grading tool), one scratch folder per concurrently running nbgrader process:

    env_add, flags = sandbox.prepare(scratch, own_root=course / "autograded",
                                     hidden=[course_root, scratch_gradebook_folder, ...])
    subprocess.run([python, "-m", "nbgrader", "autograde", assignment, *flags], env={**env, **env_add})
    sandbox.cleanup(scratch)  # then remove scratch

See THREAT_MODEL for what each isolation level protects and what it does not.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import importlib.util
import json
import os
import re
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

NOBODY = 65534
PRIVATE_TMP_MB = 256  # each private /tmp, /var/tmp, /dev/shm: memory outside the kernel's RLIMIT_AS
LEVELS = ("full", "namespaces", "limits")
LEVEL_ENV = "RNN_SANDBOX_LEVEL"  # optional override: one of LEVELS (never more than the OS allows)

THREAT_MODEL = """\
What the grading sandbox protects, by isolation level. sandbox.isolation_level() says which one
this machine gets: `full` needs root and util-linux `unshare`, `namespaces` needs unprivileged
user namespaces, `limits` works everywhere.

Every level:
- Resource limits on the kernel process: address space (memory; default 4 GB, so a memory bomb
  gets MemoryError or the kernel dies), CPU seconds (default 600, then SIGXCPU and SIGKILL),
  the size of any one file it writes (default 200 MB), no core dumps. The cell timeout
  (Execute.timeout) interrupts a cell that runs too long. A kernel that exits or dies
  (sys.exit, os._exit, a crash) loses the rest of its own notebook, never the grader or the
  next student (nbgrader reports that one submission as failed and grades the others).
- A cleaned environment: only PATH, locale, time zone, thread counts (one BLAS/OpenMP thread
  unless the grader sets them), the matplotlib backend and jupyter_client's variables reach
  the kernel; no database URL, token or password from the grader's environment.

`full` (the grader runs as root, e.g. in CI or a grading container):
- A new network namespace: no network at all, not even loopback to the grading host: no TCP
  to a database or server on 127.0.0.1, no DNS, nothing outside. The kernel talks to nbgrader
  over unix sockets in a folder of their own.
- A new PID namespace under a small root supervisor: the kernel sees and can signal only its
  own processes, and when it ends every process it started is killed, so nothing it starts
  outlives its notebook.
- A private mount namespace: every existing mount is read-only; each hidden path (the
  gradebook, the instructor's source/, submitted/, the scratch gradebook, or the whole course
  folder) is covered by an empty read-only file system, so it can be neither read nor
  written; other students' folders under own_root are covered too; /tmp, /var/tmp and /dev/shm
  are new, empty and private; folders user nobody cannot pass (e.g. /root holding the Python)
  are covered, with only the Python installation and rnnlib put back read-only.
- The kernel's own folder is a private copy of the notebook's folder, shown at the folder's
  path and emptied when the kernel ends: what it writes there (files, symlinks) never reaches
  the folder into which nbgrader then writes the graded notebook.
- It runs as user and group nobody (65534) without supplementary groups or capabilities and
  with no_new_privs (setuid programs give nothing); user nobody may have at most
  max(1024, 64 x cores) processes and threads, all kernels together.
- When the grader's process ends, even killed outright, the kernel is killed too.

`namespaces` (an ordinary user, `unshare -rmn` allowed):
- The same network, PID and mount isolation, the private copy of its folder, no capabilities
  and no_new_privs; but the kernel keeps the grading user's uid (it is "root" only inside its
  user namespace), so the file permissions that apply are that user's where a path is neither
  covered nor on a read-only mount, and no limit on the number of processes is set.

`limits` (neither is available):
- Only the resource limits and the cleaned environment. The kernel runs as the grading user,
  with the network, in the real notebook folder: it CAN read and write whatever that user can
  (the gradebook, the instructor's source notebooks, other students' work), open network
  connections, and leave processes running after it ends. Use it only for trusted
  submissions, or grade inside a container or VM.

What remains at every level:
- CPU: up to the cell timeout and the CPU-seconds limit, with as many threads as it likes, on
  cores shared with the grader and the other kernels (and memory bandwidth and disk I/O): a
  kernel can slow the others down, not change their results.
- Memory limits are per process (address space): each child process gets its own limit.
  At `namespaces` and `limits` no limit on the number of processes is set: a fork bomb can
  exhaust the grading user's process quota while its kernel runs (at `namespaces` its
  processes die with the kernel, at `limits` they do not).
- Its folder copy and private /tmp are writable with each file bounded but not their total:
  a kernel can fill the disk holding the scratch folder, and use up to 3 x 256 MB of memory
  beyond its limit in its private /tmp, /var/tmp and /dev/shm.
- It can read what is world-readable and not hidden: system files, the Python installation,
  rnnlib, course folders not listed as hidden. (At `limits`, everything the grader can read.)
- The unix socket names are fixed by the grader; a kernel may put a symlink in their place,
  making the grader's ZeroMQ connect to another unix socket of the host (it then only sends
  signed Jupyter messages there).
- The notebook's outputs are the kernel's to write: it can print a fake "all tests passed";
  grades come from the test cells nbgrader puts back, not from printed text.
- The submission's code and the tests that judge it share one Python process. grade.py's guard
  cells put back, before every test cell, whatever the submission replaced of numpy, rnnlib,
  builtins, sys.stdout/stderr, IPython's hooks and the functions and imports of the locked
  cells (np.allclose, rnnlib.grading.check_outputs, ramp, the hidden _hidden_* helpers), and a
  test during which such a replacement happens (e.g. inside the learner's function) scores 0.
  They cannot see changes to objects they do not record (instance state, C-level patches via
  ctypes), and code written against the guard itself (it is public) can defeat it: only
  running the tests in a process of their own would close that.
- Kernel (operating system) vulnerabilities that escape namespaces are outside this model;
  against hostile code at scale, grade in a VM.
"""


# --------------------------------------------------------------------------------------------
# Choosing the level


def _run_ok(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def _probe() -> tuple[str, tuple[str, ...]]:
    """(level, unshare argv prefix) that this OS allows, tried once per process."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return "limits", ()
    pid_flags = ["--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() == 0:
        candidates = [("full", [unshare, "--net", "--mount", *pid_flags]),
                      ("full", [unshare, "--net", "--mount"])]
    else:
        candidates = []
    # Unprivileged user namespaces (also usable by root, which is how the tests try this level).
    candidates += [("namespaces", [unshare, "--map-root-user", "--net", "--mount", *pid_flags]),
                   ("namespaces", [unshare, "--map-root-user", "--net", "--mount"])]
    for level, argv in candidates:
        if _run_ok([*argv, "true"]):
            return level, tuple(argv)
    return "limits", ()


@functools.cache
def _unshare_argv(level: str) -> tuple[str, ...]:
    """The unshare command for a level no stronger than what the OS allows."""
    unshare = shutil.which("unshare") or "unshare"
    pid_flags = ["--pid", "--fork", "--kill-child", "--mount-proc"]
    base = {"full": [unshare, "--net", "--mount"],
            "namespaces": [unshare, "--map-root-user", "--net", "--mount"]}[level]
    for argv in ([*base, *pid_flags], base):
        if _run_ok([*argv, "true"]):
            return tuple(argv)
    raise RuntimeError(f"isolation level {level!r} is not available on this machine")


def isolation_level() -> str:
    """The strongest level this OS allows: "full", "namespaces" or "limits" (see THREAT_MODEL)."""
    return _probe()[0]


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown isolation level {level!r}; one of {LEVELS}")
    best = isolation_level()
    if LEVELS.index(level) < LEVELS.index(best):
        raise ValueError(f"isolation level {level!r} is not available here (the strongest is {best!r})")
    return level


# --------------------------------------------------------------------------------------------
# The grader's side


def _package_dirs(*names: str) -> list[str]:
    dirs = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            dirs += [os.path.realpath(p) for p in spec.submodule_search_locations]
    return dirs


def prepare(scratch: Path, *, own_root: Path, hidden: list[Path], memory_mb: int = 4096,
            cpu_seconds: int = 600, max_file_mb: int = 200,
            level: str | None = None) -> tuple[dict, list[str]]:
    """Write the sandboxed "python3" kernel spec under `scratch`; return (env to add, nbgrader flags).

    own_root: the folder under which the notebooks' folders lie (a kernel's cwd must be under
    it; the kernel writes a private copy of its own folder, sees none of the others). hidden:
    paths a kernel can neither read nor write (folders, e.g. the whole course folder, or files);
    the kernel's own folder stays visible inside a hidden folder. level: None for
    isolation_level(), or a weaker level (also settable by $RNN_SANDBOX_LEVEL).

    Kernels of one nbgrader process run one after another and share its socket folder: give
    every nbgrader process that runs at the same time its own scratch folder.
    """
    level = _check_level(level or os.environ.get(LEVEL_ENV) or isolation_level())
    base = Path(scratch).resolve() / "sandbox"
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)  # no other user (e.g. another kernel as nobody) gets into it

    # Unix socket paths are limited to 107 bytes: "<ip>-<port>" must fit, else the sockets go to
    # a short folder in the system's temporary folder (removed by cleanup(scratch)).
    ipc = base / "ipc"
    if len(str(ipc / "kernel")) + 8 > 100:
        ipc = Path(tempfile.mkdtemp(prefix="rnn-sandbox-ipc-"))
        (base / "ipc-elsewhere").write_text(str(ipc))
    ipc.mkdir(exist_ok=True)
    os.chmod(ipc, 0o700)

    work = base / "work"  # the kernels' private copies of their folders
    work.mkdir(exist_ok=True)
    os.chmod(work, 0o700)

    config = {
        "level": level,
        "unshare": list(_unshare_argv(level)) if level != "limits" else [],
        "own_root": os.path.realpath(own_root),
        "hidden": sorted({os.path.realpath(p) for p in hidden}),
        "memory_mb": int(memory_mb),
        "cpu_seconds": int(cpu_seconds),
        "max_file_mb": int(max_file_mb),
        "socket_dir": str(ipc),
        "work_dir": str(work),
        # What the kernel imports besides the Python installation (kept readable when hidden
        # or untraversable folders are covered).
        "readable": _package_dirs("rnnlib", "numpy"),
    }
    config_file = base / "config.json"
    config_file.write_text(json.dumps(config, indent=1))

    data = base / "jupyter"
    spec_dir = data / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    kernel_spec = {
        "argv": [sys.executable, os.path.realpath(__file__), "--kernel", "{connection_file}",
                 "--config", str(config_file)],
        "display_name": f"Python 3 (grading sandbox: {level})",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(kernel_spec, indent=1))

    jupyter_path = str(data)
    if os.environ.get("JUPYTER_PATH"):
        jupyter_path += os.pathsep + os.environ["JUPYTER_PATH"]
    env = {"JUPYTER_PATH": jupyter_path}
    # Every notebook runs in this kernel, whatever kernel its metadata names.
    flags = ["--KernelManager.transport=ipc", f"--KernelManager.ip={ipc / 'kernel'}",
             "--Execute.kernel_name=python3"]
    return env, flags


def cleanup(scratch: Path) -> None:
    """Remove what prepare(scratch) made outside scratch (a socket folder when scratch's path is
    too long for unix sockets); scratch itself is the caller's to remove."""
    pointer = Path(scratch).resolve() / "sandbox" / "ipc-elsewhere"
    if pointer.is_file():
        shutil.rmtree(pointer.read_text(), ignore_errors=True)
        pointer.unlink()


# --------------------------------------------------------------------------------------------
# The kernel's side: limits, namespaces, mounts, privileges

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # not a POSIX system: only prepare(..., level="limits") would make sense there
    _libc = None
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
PR_SET_NO_NEW_PRIVS = 38
MOUNT_OPTION_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "nosymfollow": 256,
                      "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME,
                      "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
PSEUDO_FILESYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs",
                      "debugfs", "tracefs", "bpf", "pstore", "configfs", "fusectl", "binfmt_misc"}


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts():
    """(mount point, per-mount flags, file system type) of every mount, in mountinfo order."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            options = fields[5].split(",")
            flags = 0 if {"noatime", "relatime"} & set(options) else MS_STRICTATIME
            for option in options:
                flags |= MOUNT_OPTION_FLAGS.get(option, 0) | (MS_RDONLY if option == "ro" else 0)
            yield _unescape(fields[4]), flags, fields[sep + 1]


def _flags_of(path: str) -> int:
    """Per-mount flags of the mount holding path (the last, innermost match)."""
    best, result = "", 0
    for point, flags, _ in _mounts():
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, result = point, flags
    return result


def _remount(path: str, flags: int) -> None:
    # Locked flags (nosuid, nodev, noexec in a user namespace) must be kept in a remount.
    _mount(None, path, None, MS_REMOUNT | MS_BIND | flags)


def _all_read_only() -> None:
    for point, flags, fstype in list(_mounts()):
        if fstype in PSEUDO_FILESYSTEMS or flags & MS_RDONLY:
            continue
        try:
            _remount(point, flags | MS_RDONLY)
        except OSError as e:
            if os.path.exists(point):  # an overmounted point that no longer resolves is harmless
                raise OSError(e.errno, f"cannot make {point} read-only: {e}") from None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class _Kept:
    """Paths put back (by bind mounts from descriptors opened before anything was covered)."""

    def __init__(self, paths: list[str], sources: dict | None = None):
        """Each path is put back from itself, or from sources[path] (a folder shown at path)."""
        self.fds = {}
        for p in paths:
            source = (sources or {}).get(p, p)
            if os.path.exists(source) and p not in self.fds:
                self.fds[p] = os.open(source, os.O_PATH | os.O_CLOEXEC)

    def bind(self, path: str, rw: bool = False) -> None:
        if path not in self.fds:
            return
        if not os.path.lexists(path):  # create the mount point (in a covering tmpfs)
            parents = []
            folder = os.path.dirname(path)
            while not os.path.lexists(folder):
                parents.append(folder)
                folder = os.path.dirname(folder)
            for folder in reversed(parents):
                os.mkdir(folder)
            if stat.S_ISDIR(os.stat(f"/proc/self/fd/{self.fds[path]}").st_mode):
                os.mkdir(path)
            else:
                open(path, "x").close()
            # Read-only folders even for their owner (uid 0 without capabilities at the
            # "namespaces" level): nothing can be created next to a kept path.
            for folder in parents:
                os.chmod(folder, 0o555)
        _mount(f"/proc/self/fd/{self.fds[path]}", path, None, MS_BIND | MS_REC)
        if rw:
            flags = _flags_of(path) & ~MS_RDONLY
            _remount(path, flags | MS_NOSUID | MS_NODEV)

    def cover(self, folder: str, mode: int, read_only: bool, size_mb: int = 1) -> None:
        """An empty tmpfs on folder, then every kept path below it put back (read-only)."""
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode:o},size={size_mb}m")
        below = sorted(p for p in self.fds if _under(p, folder) and p != folder)
        for p in below:
            if not any(_under(p, q) and p != q for q in below):  # only the outermost ones
                self.bind(p)
        if read_only:
            _remount(folder, MS_NOSUID | MS_NODEV | MS_RDONLY)


def _untraversable_ancestor(path: str, uid: int) -> str | None:
    """The outermost folder on the way to path that uid cannot pass (None: it can reach path)."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        folder = os.path.join(*parts[:i])
        st = os.stat(folder)
        if st.st_uid == uid:
            continue
        if not st.st_mode & stat.S_IXOTH:
            return folder
    return None


def _set_limits(config: dict) -> None:
    mb = 1024 * 1024
    limits = [(resource.RLIMIT_AS, config["memory_mb"] * mb),
              (resource.RLIMIT_FSIZE, config["max_file_mb"] * mb),
              (resource.RLIMIT_CORE, 0)]
    cpu = config["cpu_seconds"]
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
    if config["level"] == "full":
        # Counted per user: every process and thread of user nobody on the machine, so of all
        # kernels graded at once (one per core by default, each a dozen threads).
        nproc = max(1024, 64 * (os.cpu_count() or 1))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "MPLBACKEND", "PYTHONHASHSEED", "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "PYTHONPATH",
            "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
            "HOME", "PYDEVD_DISABLE_FILE_VALIDATION")


def _kernel_env(private_home: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k in KEPT_ENV or k.startswith(("LC_", "JPY_"))}
    if private_home:
        env.update(HOME=private_home, IPYTHONDIR=f"{private_home}/.ipython",
                   JUPYTER_CONFIG_DIR=f"{private_home}/.jupyter",
                   JUPYTER_DATA_DIR=f"{private_home}/.local/share/jupyter",
                   JUPYTER_RUNTIME_DIR=f"{private_home}/.jupyter-runtime",
                   MPLCONFIGDIR=f"{private_home}/.matplotlib", TMPDIR="/tmp")
    env.setdefault("MPLBACKEND", "Agg")
    # One BLAS/OpenMP thread unless the grader says otherwise: grading runs one kernel per core
    # already, and a thread count fixed in advance gives the same floating-point results on
    # every machine and in every shard.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


def _kernel_argv(connection_file: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, *extra]


def _no_new_privs() -> None:
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _outer(args, config: dict, extra: list[str]) -> None:
    """Started by jupyter_client: limits, then the namespaces (or, for "limits", the kernel)."""
    _set_limits(config)
    if config["level"] == "limits":
        _no_new_privs()
        os.execve(sys.executable, _kernel_argv(args.kernel, extra), _kernel_env(None))
    # A handle on the grader (jupyter_client's process, our parent), valid across PID
    # namespaces: the supervisor ends the kernel when the grader is gone, even if it was killed.
    try:
        grader = os.pidfd_open(os.getppid())
        os.set_inheritable(grader, True)
    except (AttributeError, OSError):
        grader = -1
    argv = [*config["unshare"], sys.executable, os.path.realpath(__file__),
            "--inside", args.kernel, "--config", args.config, "--grader-fd", str(grader), *extra]
    os.execv(argv[0], argv)


def _inside(args, config: dict, extra: list[str]) -> None:
    """Root of new mount/net (and PID) namespaces: build the kernel's view, drop privileges, exec."""
    full = config["level"] == "full"
    uid = NOBODY if full else os.getuid()
    cwd = os.path.realpath(os.getcwd())
    own_root = config["own_root"]
    if not _under(cwd, own_root):
        sys.exit(f"grading sandbox: the kernel's folder {cwd} is not under {own_root}")
    hidden = config["hidden"]
    if any(_under(cwd, h) for h in hidden if h != own_root and not _under(own_root, h)):
        sys.exit(f"grading sandbox: the kernel's folder {cwd} is a hidden path")
    connection = Path(args.kernel).read_text()
    socket_dir = config["socket_dir"]
    # The kernel writes a private copy of its folder, shown at the folder's path: nothing it does
    # there (e.g. a symlink in place of the notebook) reaches the folder where nbgrader then
    # writes the graded notebook, as root or as the grading user.
    work_dir = config["work_dir"]
    if _under(work_dir, cwd):
        sys.exit(f"grading sandbox: the kernel's folder {cwd} holds the sandbox's scratch folder")
    for old in os.scandir(work_dir):  # copies of earlier kernels of this grader, all ended
        shutil.rmtree(old.path, ignore_errors=True)
    work = tempfile.mkdtemp(prefix=os.path.basename(cwd) + "-", dir=work_dir)
    shutil.copytree(cwd, work, symlinks=True, dirs_exist_ok=True)
    if full:  # the kernel, as nobody, writes its copy and binds its sockets
        for folder, _, files in os.walk(work):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.lchown(name, NOBODY, NOBODY)
        os.chown(socket_dir, NOBODY, NOBODY)

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    readable = {os.path.realpath(p) for p in
                [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
                 *[p for p in sys.path if p and os.path.isdir(p)], *config["readable"]]}
    readable.discard(os.path.dirname(os.path.realpath(__file__)))  # this tool's folder: not needed
    writable = [cwd, socket_dir]
    kept = _Kept(sorted(readable) + writable, sources={cwd: work})
    _all_read_only()
    for private in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(private) and not os.path.islink(private):
            kept.cover(private, 0o1777, read_only=False, size_mb=PRIVATE_TMP_MB)
    if full:  # folders nobody cannot pass (e.g. /root holding the Python): covered, kept paths back
        covered = set()
        while blocked := {_untraversable_ancestor(p, uid) for p in kept.fds} - {None}:
            folder = min(blocked)
            if folder in covered:
                raise RuntimeError(f"grading sandbox: {folder} stays untraversable")
            covered.add(folder)
            kept.cover(folder, 0o755, read_only=True)
    empty = "/tmp/.sandbox-empty"
    with open(empty, "w"):
        pass
    os.chmod(empty, 0)
    for h in hidden:
        if not os.path.lexists(h):
            continue  # already out of sight (e.g. under the private /tmp)
        if os.path.isdir(h) and not os.path.islink(h):
            kept.cover(h, 0o755, read_only=True)
        else:
            _mount(empty, h, None, MS_BIND)
            _remount(h, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    os.unlink(empty)
    if own_root != cwd and os.path.isdir(own_root):  # other students' folders: out of sight
        kept.cover(own_root, 0o755, read_only=True)
    for p in writable:
        kept.bind(p, rw=True)

    home = "/tmp/.kernel"
    os.mkdir(home, 0o700)
    connection_file = f"{home}/kernel.json"
    with open(connection_file, "w") as f:
        f.write(connection)
    os.chmod(connection_file, 0o600)
    if full:
        os.chown(home, NOBODY, NOBODY)
        os.chown(connection_file, NOBODY, NOBODY)
    os.chdir(cwd)  # the new (writable) mount on the same path

    env = _kernel_env(home)
    # Its parent is the supervisor below (PID 1), not jupyter_client's process: ipykernel then
    # neither polls for its parent nor prints the connection banner into the grader's output.
    env["JPY_PARENT_PID"] = "1"
    argv = _kernel_argv(connection_file, extra)
    kernel = os.fork()
    if kernel == 0:
        try:
            if args.grader_fd >= 0:
                os.close(args.grader_fd)
            _become_kernel(argv, env, full)
        finally:
            os._exit(127)
    _supervise(kernel, cleanup=lambda: _empty_copy(cwd), grader_fd=args.grader_fd)


def _empty_copy(cwd: str) -> None:
    """Empty the kernel's copy of its folder (shown at cwd; the folder itself goes when the
    next kernel of this grader starts, or with the scratch folder)."""
    for entry in os.scandir(cwd):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)


def _become_kernel(argv: list[str], env: dict, full: bool) -> None:
    """Drop every privilege (and, at "full", become nobody), then exec the kernel."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        ids = ["--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"] if full else []
        os.execve(setpriv, [setpriv, *ids, "--inh-caps=-all", "--bounding-set=-all",
                            "--no-new-privs", "--", *argv], env)
    for cap in range(64):  # without setpriv: empty bounding set, then the ids
        if _libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            break
    if full:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _no_new_privs()
    os.execve(sys.executable, argv, env)


def _supervise(kernel: int, cleanup, grader_fd: int = -1) -> None:
    """PID 1 of the kernel's PID namespace (or its parent): reap every process, end with the kernel.

    jupyter_client signals the whole process group, so the kernel gets interrupts directly; this
    process ignores them. When it ends (or dies: unshare --kill-child kills it when unshare is
    killed), the kernel ends and, in a PID namespace, so does every process the kernel started.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(kernel, signal.SIGTERM))
    if grader_fd >= 0:
        def watch():  # a pidfd becomes readable when its process has ended
            select.select([grader_fd], [], [])
            os.kill(kernel, signal.SIGKILL)
        threading.Thread(target=watch, daemon=True).start()
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            if os.getpid() == 1:  # PID 1 of the namespace: end whatever the kernel left running
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                cleanup()
            except OSError as e:
                print(f"grading sandbox: cleanup: {e!r}", file=sys.stderr)
            os._exit(code if code >= 0 else 128 - code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--kernel", metavar="CONNECTION_FILE", help="start a sandboxed kernel")
    mode.add_argument("--inside", metavar="CONNECTION_FILE", help=argparse.SUPPRESS)
    mode.add_argument("--threat-model", action="store_true", help="print the threat model")
    mode.add_argument("--level", action="store_true", help="print this machine's isolation level")
    parser.add_argument("--config", help="config.json written by prepare()")
    parser.add_argument("--grader-fd", type=int, default=-1, help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if args.threat_model:
        print(THREAT_MODEL)
        return
    if args.level:
        print(isolation_level())
        return
    config = json.loads(Path(args.config).read_text())
    if args.kernel:
        _outer(args, config, extra)
    else:
        args.kernel = args.inside
        _inside(args, config, extra)


if __name__ == "__main__":
    main()
