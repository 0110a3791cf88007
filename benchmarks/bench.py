"""Everything `make bench` measures, each section printed with the command that produced it.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench.py            # about 20 minutes on 2 cores
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench.py --full     # + `make test` time, ~35 min more
    python benchmarks/bench.py --only speed charlm               # some sections only

Sections (benchmarks/RESULTS.md records their results):
  speed    rnnlib against torch.nn.RNN/LSTM/GRU, forward + backward, and the forward caches'
           memory (benchmarks/rnn_speed.py), at one BLAS thread and at one per core
  charlm   characters per second of the character-model training loop: `python -m rnnlib.charlm`
           for each cell, --charlm-seconds of training each (60 with --full, as in RESULTS.md)
  grading  seconds per graded notebook, serial against sharded (benchmarks/grading.py) on a class
           of --students learners (BENCH_STUDENTS, default 8)
  book     clean build of the book (a copy of the repository without _build, every notebook
           executed) and the cached rebuild that follows it
  test     with --full only: `make test-fast` and `make test` as CI runs them, in a fresh
           `git clone` of the last commit with a venv of its own (`make venv`, timed apart)
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECTIONS = ("speed", "charlm", "grading", "book", "test")
# Generated or machine-local folders that a clean build must not see.
NOT_COPIED = shutil.ignore_patterns("_build", ".venv", ".git", ".jupyter_cache", ".pytest_cache",
                                    "__pycache__", "*.egg-info", "release", "submitted",
                                    "autograded", "feedback", "gradebook.db", "work", "report")


def run(command, cwd=ROOT, env=None, capture=False):
    """Run a command, echoing it; returns (seconds, stdout if captured)."""
    print("$ " + " ".join(map(str, command)), flush=True)
    started = time.perf_counter()
    result = subprocess.run(list(map(str, command)), cwd=cwd, env=env, check=True, text=True,
                            stdout=subprocess.PIPE if capture else None)
    return time.perf_counter() - started, result.stdout


def section(title):
    print(f"\n## {title}\n", flush=True)


def speed(args):
    # Once with one thread each, once with every core each: equal resources both times.
    for threads in sorted({1, os.cpu_count() or 1}):
        section(f"rnnlib against torch: forward + backward, and cache memory; "
                f"OPENBLAS_NUM_THREADS={threads}")
        run([sys.executable, ROOT / "benchmarks" / "rnn_speed.py", *(["--quick"] if args.quick else [])],
            env={**os.environ, "OPENBLAS_NUM_THREADS": str(threads)})


def charlm(args):
    section(f"Character language model: {args.charlm_seconds:g} s of training per cell")
    rows = []
    for model in ("rnn", "lstm", "gru"):
        _, out = run([sys.executable, "-m", "rnnlib.charlm", "--model", model, "--seconds",
                      args.charlm_seconds, "--no-progress", "--sample", "0"], capture=True)
        trained = re.search(r"trained ([\d.]+) s: ([\d,]+) steps, ([\d,]+) characters .*?"
                            r"([\d,]+) characters/s", out)
        bits = re.search(r"^bits/char: ([\d.]+)$", out, re.M)
        rows.append((model, *trained.groups(), bits.group(1)))
    print("\n| model | seconds | steps | characters | characters/s | held-out bits/char |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def grading(args):
    section(f"Grading: seconds per notebook, serial against sharded ({args.students} learners)")
    run([sys.executable, ROOT / "benchmarks" / "grading.py", "--students", args.students,
         "--workers", 2])


def book_builds():
    """Clean and cached book builds in a copy of the repository."""
    with tempfile.TemporaryDirectory(prefix="rnn-book-bench-") as tmp:
        copy = Path(tmp) / "course"
        shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
        env = dict(os.environ, PYTHONPATH=str(copy), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        build = [BIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going"]  # as `make book`
        section("Book build times (a copy of the repository without _build)")
        clean, _ = run(build, cwd=copy, env=env)
        cached, _ = run(build, cwd=copy, env=env)
        print(f"\n| build | seconds |\n| --- | ---: |\n| clean (every notebook executed) | "
              f"{clean:.0f} |\n| cached rebuild (nothing changed) | {cached:.0f} |")


def test_times():
    """`make test-fast` and `make test` on a fresh clone, as CI runs them (the venv timed apart)."""
    section("`make test-fast` and `make test` on a fresh clone of the last commit")
    with tempfile.TemporaryDirectory(prefix="rnn-test-bench-") as tmp:
        clone = Path(tmp) / "course"
        run(["git", "clone", "--quiet", ROOT, clone])
        # the clone's own .venv, not this one, and not the settings of the `make bench` around us
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
        outer = {"VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
        env = {k: v for k, v in os.environ.items() if k not in outer} | {"PATH": path}
        venv, _ = run(["make", "venv"], cwd=clone, env=env)
        fast, _ = run(["make", "test-fast"], cwd=clone, env=env)
        full, _ = run(["make", "test"], cwd=clone, env=env)
        print(f"\n| part | seconds |\n| --- | ---: |\n| make venv | {venv:.0f} |\n"
              f"| make test-fast | {fast:.0f} |\n| make test | {full:.0f} |\n"
              f"| make test with the venv install (CI) | {venv + full:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="also time `make test` (~35 min) and train charlm 60 s per cell")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--quick", action="store_true", help="the speed table with fewer blocks")
    parser.add_argument("--students", type=int, default=int(os.environ.get("BENCH_STUDENTS", 8)))
    parser.add_argument("--charlm-seconds", type=float)
    args = parser.parse_args(argv)
    if args.charlm_seconds is None:
        args.charlm_seconds = 60.0 if args.full else 20.0
    sections = args.only or [s for s in SECTIONS if s != "test" or args.full]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"# make bench, {time.strftime('%Y-%m-%d %H:%M')}: {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    started = time.perf_counter()
    if "speed" in sections:
        speed(args)
    if "charlm" in sections:
        charlm(args)
    if "grading" in sections:
        grading(args)
    if "book" in sections:
        book_builds()
    if "test" in sections:
        test_times()
    print(f"\nmake bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
