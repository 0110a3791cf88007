"""Forward + backward time of rnnlib's RNN, LSTM and GRU against torch.nn.RNN/LSTM/GRU on the CPU.

    OPENBLAS_NUM_THREADS=1 python benchmarks/rnn_speed.py            # the table (a few minutes)
    OPENBLAS_NUM_THREADS=1 python benchmarks/rnn_speed.py --quick    # fewer blocks, for a look
    mkdir /tmp/old && git archive <commit> rnnlib | tar -x -C /tmp/old
    OPENBLAS_NUM_THREADS=1 python benchmarks/rnn_speed.py --baseline /tmp/old   # + before/after

One call is one forward and one backward over a whole batch of sequences: rnnlib's
``*_forward`` then ``*_backward`` (dx, the initial states' and all weight gradients), and
torch's module forward then ``backward`` of ``(hs * dhs).sum()`` with ``x.requires_grad``.
Both get the same weights, the same x and the same upstream gradient dhs.

Timing on a shared 2-core machine: BLAS and OpenMP threads keep spinning for a while after
work, so interleaving single calls of two libraries slows whichever runs second. Each library
therefore runs in blocks: an idle pause, a warm-up, then ``--calls`` timed calls; the blocks of
rnnlib, torch at one thread and torch at its default thread count alternate ``--blocks`` times,
and the table reports the median over all timed calls of each.

numpy runs with OPENBLAS_NUM_THREADS BLAS threads (1 unless set, as the Makefile sets it: for
the chapters' small products a second thread costs more in hand-offs than it saves). torch is
measured at 1 thread and at its default; the table gives the ratio to torch at numpy's thread
count (equal resources) and to the faster of the two. `make bench` runs it at 1 thread and
again with a BLAS thread per core.

Also printed: the memory held by each forward cache against the N*T*G*H floats that backward
needs at the least (G = 1, 4, 3 gate blocks).
"""
import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads its BLAS
import numpy as np
import torch

# The repository's rnnlib, or another copy's (BENCH_RNNLIB=/path/to/checkout) to compare versions.
sys.path.insert(0, os.environ.get("BENCH_RNNLIB", str(Path(__file__).resolve().parents[1])))
import rnnlib
import rnnlib.torch_bridge

SIZES = ((32, 50, 128), (64, 128, 256))   # (N, T, D = H)
DTYPES = (np.float32, np.float64)
CELLS = {  # name: (forward, backward, torch class, gate blocks G, initial states)
    "rnn": (rnnlib.rnn_forward, rnnlib.rnn_backward, torch.nn.RNN, 1, 1),
    "lstm": (rnnlib.lstm_forward, rnnlib.lstm_backward, torch.nn.LSTM, 4, 2),
    "gru": (rnnlib.gru_forward, rnnlib.gru_backward, torch.nn.GRU, 3, 1),
}
TORCH_DEFAULT_THREADS = torch.get_num_threads()
# The like-for-like ratio compares torch with as many threads as numpy's BLAS has (1 or torch's
# default, e.g. both libraries on both cores of a 2-core machine).
BLAS_THREADS = int(os.environ["OPENBLAS_NUM_THREADS"])
ROW_FORMATS = ("s", "s", "s", ".1f", ".1f", ".1f", ".2f", ".2f")


def load_baseline(checkout):
    """The rnnlib package of another checkout, imported as ``rnnlib_baseline``."""
    init = Path(checkout) / "rnnlib" / "__init__.py"
    spec = importlib.util.spec_from_file_location("rnnlib_baseline", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["rnnlib_baseline"] = module
    spec.loader.exec_module(module)
    return module


def make_case(cell, N, T, H, dtype, seed=0, library=None):
    """Inputs for rnnlib and the torch module with the same numbers; ``library`` replaces rnnlib
    (a baseline checkout's package) for the rnnlib side."""
    forward, backward, torch_class, G, n_states = CELLS[cell]
    if library is not None:
        forward = getattr(library, f"{cell}_forward")
        backward = getattr(library, f"{cell}_backward")
    rng = np.random.default_rng(seed)
    D = H
    bound = 1 / np.sqrt(H)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    dhs = rng.normal(size=(N, T, H)).astype(dtype)
    Wx = rng.uniform(-bound, bound, (G * H, D)).astype(dtype)
    Wh = rng.uniform(-bound, bound, (G * H, H)).astype(dtype)
    biases = [rng.uniform(-bound, bound, G * H).astype(dtype)
              for _ in range(2 if cell == "gru" else 1)]
    bias_names = ("bx", "bh") if cell == "gru" else ("b",)
    module = rnnlib.torch_bridge.module_from_params(
        torch_class.__name__, {"Wx": Wx, "Wh": Wh, **dict(zip(bias_names, biases))})
    states = (None,) * n_states

    def run_rnnlib():
        hs, cache = forward(x, *states, Wx, Wh, *biases)
        return backward(dhs, cache)

    tx, tdhs = torch.from_numpy(x), torch.from_numpy(dhs)

    def run_torch():
        module.zero_grad(set_to_none=True)
        xt = tx.detach().requires_grad_(True)
        hs, _ = module(xt)
        hs.backward(tdhs)
        return xt.grad

    return run_rnnlib, run_torch, (x, Wx, Wh, biases, states)


def time_block(fn, calls, warmup, pause, threads=None):
    """An idle pause, a warm-up, then `calls` timed calls: their times in seconds."""
    if threads is not None:
        torch.set_num_threads(threads)
    time.sleep(pause)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure(cell, N, T, H, dtype, blocks, calls, warmup, pause, baseline=None):
    """Median milliseconds per call of rnnlib, torch at 1 thread and at its default threads (and
    of the baseline's rnnlib, if given), from alternating blocks."""
    run_rnnlib, run_torch, _ = make_case(cell, N, T, H, dtype)
    runs = {"rnnlib": (run_rnnlib, None), "torch1": (run_torch, 1),
            "torchN": (run_torch, TORCH_DEFAULT_THREADS)}
    if baseline is not None:
        runs["baseline"] = (make_case(cell, N, T, H, dtype, library=baseline)[0], None)
    times = {name: [] for name in runs}
    for _ in range(blocks):
        for name, (fn, threads) in runs.items():
            times[name] += time_block(fn, calls, warmup, pause, threads)
    torch.set_num_threads(TORCH_DEFAULT_THREADS)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def cache_bytes(cache):
    """Bytes of the distinct arrays a cache holds (views count once, by their base array)."""
    seen, total = set(), 0
    for a in cache:
        if isinstance(a, np.ndarray):
            base = a if a.base is None else a.base
            while isinstance(base, np.ndarray) and base.base is not None:
                base = base.base
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
    return total


def cache_memory_table(N=64, T=128, H=256, dtype=np.float32):
    """Per cell: MiB the forward cache holds besides the inputs it references (x, Wx, Wh), the
    peak MiB numpy allocated during the forward (tracemalloc), and N*T*G*H floats in MiB."""
    rows = []
    for cell, (forward, _, _, G, _) in CELLS.items():
        _, _, (x, Wx, Wh, biases, states) = make_case(cell, N, T, H, dtype)
        tracemalloc.start()
        _, cache = forward(x, *states, Wx, Wh, *biases)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        held = cache_bytes(cache) - x.nbytes - Wx.nbytes - Wh.nbytes
        needed = N * T * G * H * np.dtype(dtype).itemsize
        rows.append((cell, f"({N}, {T}, {H})", np.dtype(dtype).name, G, held / 2**20,
                     peak / 2**20, needed / 2**20, held / needed))
    return rows


def machine():
    """Cores, CPU model, numpy's BLAS, torch's version and threads: one line each."""
    cpu = platform.processor() or "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return [f"machine: {os.cpu_count()} cores, {cpu}; load average {os.getloadavg()[0]:.2f}",
            f"numpy {np.__version__}, BLAS {blas['name']} {blas.get('version', '')} "
            f"({blas.get('openblas configuration', '').strip()}), "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}",
            f"torch {torch.__version__}, default threads {TORCH_DEFAULT_THREADS}, "
            f"oneDNN (mkldnn) {'on' if torch.backends.mkldnn.is_available() else 'off'}",
            f"rnnlib {Path(rnnlib.__file__).parent}"]


def print_table(header, rows, formats):
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---:" if f != "s" else "---" for f in formats) + " |")
    for row in rows:
        print("| " + " | ".join(format(v, f) for v, f in zip(row, formats)) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks per library")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per block")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per block")
    parser.add_argument("--pause", type=float, default=1.0, help="idle seconds before a block")
    parser.add_argument("--quick", action="store_true", help="2 blocks of 3 calls, 0.5 s pauses")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also time the rnnlib of this checkout (e.g. the commit before)")
    args = parser.parse_args(argv)
    baseline = load_baseline(args.baseline) if args.baseline else None
    if args.quick:
        args.blocks, args.calls, args.pause = 2, 3, 0.5
    print("\n".join(machine()))
    print(f"{args.blocks} alternating blocks x {args.calls} timed calls, each block after "
          f"{args.pause:g} s idle and {args.warmup} warm-up calls; medians")
    print()
    rows, before = [], []
    for cell in args.cells:
        for N, T, H in SIZES:
            for dtype in DTYPES:
                ms = measure(cell, N, T, H, dtype, args.blocks, args.calls, args.warmup,
                             args.pause, baseline)
                best = min(ms["torch1"], ms["torchN"])
                equal = ms["torch1"] if BLAS_THREADS == 1 else ms["torchN"]
                rows.append((cell, f"({N}, {T}, {H})", np.dtype(dtype).name, ms["rnnlib"],
                             ms["torch1"], ms["torchN"], ms["rnnlib"] / equal,
                             ms["rnnlib"] / best))
                if baseline is not None:
                    before.append(rows[-1][:3] + (ms["baseline"], ms["rnnlib"],
                                                  ms["baseline"] / ms["rnnlib"],
                                                  ms["baseline"] / ms["torch1"],
                                                  ms["rnnlib"] / ms["torch1"]))
                print("  " + "  ".join(format(v, f) for v, f in zip(rows[-1], ROW_FORMATS)),
                      file=sys.stderr, flush=True)
    print("Forward + backward, median ms per call at (N, T, D = H); ratios rnnlib / torch")
    print()
    print_table(("cell", "(N, T, H)", "dtype", "rnnlib ms", "torch 1 thread ms",
                 f"torch {TORCH_DEFAULT_THREADS} threads ms",
                 f"ratio to torch at {BLAS_THREADS} thread{'s' * (BLAS_THREADS > 1)} (numpy's)",
                 "ratio to faster torch"), rows, ROW_FORMATS)
    if baseline is not None:
        print()
        print(f"Before ({args.baseline}) and after, the same blocks; ratios to torch at 1 thread")
        print()
        print_table(("cell", "(N, T, H)", "dtype", "before ms", "after ms", "speed-up",
                     "ratio before", "ratio after"), before,
                    ("s", "s", "s", ".1f", ".1f", ".2f", ".2f", ".2f"))
    print()
    print("Forward cache: MiB held besides the inputs x, Wx, Wh it references; peak MiB "
          "allocated by the forward; the N*T*G*H floats backward needs at the least")
    print()
    print_table(("cell", "(N, T, H)", "dtype", "G", "cache MiB", "forward peak MiB",
                 "N*T*G*H MiB", "cache / N*T*G*H"),
                cache_memory_table(), ("s", "s", "s", "d", ".1f", ".1f", ".1f", ".2f"))


if __name__ == "__main__":
    main()
