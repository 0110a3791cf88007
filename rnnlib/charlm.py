"""The character-level language model: read text one character at a time, predict the next.

A recurrent cell ("rnn", "lstm" or "gru") reads one-hot characters and a read-out over the
vocabulary gives the logits of the next character at every step (``CharLM``, a
``SequenceModel`` whose inputs and outputs are the vocabulary). ``train`` cuts the training
text into parallel rows with ``data.stream_batches`` and carries the hidden state from one batch
into the next (truncated backpropagation through time), clips the gradient by its global norm
and updates with Adam or Adagrad. Quality is measured in bits per character on held-out text
(``evaluate_bits_per_char``) against count baselines (``unigram_bits_per_char``,
``bigram_bits_per_char``); ``sample`` writes text at a chosen temperature.

Run it from the command line (the last line printed is the held-out figure)::

    python -m rnnlib.charlm --model rnn --seconds 60
"""
import argparse
import math
import sys
import time

import numpy as np

from .data import CharVocab, python_docs_text, stream_batches, train_heldout_split
from .layers import log_softmax, softmax_cross_entropy
from .optim import Adagrad, Adam, clip_by_global_norm
from .train import CELLS, SequenceModel

LN2 = math.log(2)

# Settings per cell, chosen by measurement for a one-minute run on one CPU core (each setting
# compared by runs of 60 CPU-seconds; benchmarks/RESULTS.md has the runs that chose them).
DEFAULTS = {
    "rnn": dict(hidden=256, batch_size=32, seq_len=32, lr=8e-3, clip=1.0),
    "lstm": dict(hidden=192, batch_size=32, seq_len=32, lr=2e-2, clip=1.0),
    "gru": dict(hidden=192, batch_size=32, seq_len=32, lr=1.5e-2, clip=1.0),
}


class CharLM(SequenceModel):
    """A character-level language model: ``cell`` over one-hot characters, then logits over the
    vocabulary at every step. ``forward(ids (N, T), *state) -> logits (N, T, V)``.

    The output bias starts at the log of ``unigram`` (character frequencies, if given), so the
    untrained model already predicts how often each character occurs instead of a uniform guess.
    """

    def __init__(self, cell, vocab_size, hidden_size, *, seed=None, dtype=np.float32,
                 unigram=None):
        super().__init__(cell, vocab_size, hidden_size, vocab_size, seed=seed, dtype=dtype)
        self.vocab_size = vocab_size
        if unigram is not None:
            unigram = np.asarray(unigram, dtype=np.float64)
            if unigram.shape != (vocab_size,) or np.any(unigram <= 0):
                raise ValueError(f"CharLM: unigram must be {vocab_size} positive frequencies")
            log_p = np.log(unigram / unigram.sum())
            self.params["by"][:] = log_p - log_p.mean()

    def loss_and_grads(self, inputs, targets, *state):
        """One forward and backward pass: mean cross-entropy in nats over the (N, T) targets;
        fills ``grads``. The state after the last step is in ``final_state``."""
        loss, dlogits = softmax_cross_entropy(self.forward(inputs, *state), targets)
        self.backward(dlogits)
        return float(loss)

    def __repr__(self):
        return (f"CharLM({self.cell}, vocab {self.vocab_size}, hidden {self.layer.hidden_size}, "
                f"{self.num_params} parameters, {self.params['Wy'].dtype})")


# --- baselines --------------------------------------------------------------------------------

def unigram_bits_per_char(train_ids, heldout_ids, vocab_size, alpha=1.0):
    """Bits per character of the held-out text under character frequencies counted on the
    training text, every count plus ``alpha`` (add-one smoothing for alpha=1, so a character
    never seen in training still gets a non-zero probability). With alpha=0 and the same text
    for both, this is the entropy of the text's character distribution."""
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size) + float(alpha)
    p = counts / counts.sum()
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log2(p[np.asarray(heldout_ids)])))


def bigram_counts(ids, vocab_size):
    """counts[a, b]: how often character b follows character a in the id stream."""
    ids = np.asarray(ids)
    pairs = ids[:-1] * vocab_size + ids[1:]
    return np.bincount(pairs, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size)


def bigram_bits_per_char(train_ids, heldout_ids, vocab_size, alpha=1.0):
    """Bits per character of the held-out text under p(b | a) counted on the training text:

        p(b | a) = (count(a, b) + alpha) / (count(a) + alpha * V)

    Add-one smoothing (alpha=1) pretends every pair was seen once more than it was, so a pair
    that never occurs in training still gets a small probability instead of zero (which would
    cost infinitely many bits). Every held-out character after the first is scored, given the
    one before it."""
    counts = bigram_counts(train_ids, vocab_size) + float(alpha)
    p = counts / counts.sum(axis=1, keepdims=True)
    heldout_ids = np.asarray(heldout_ids)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.mean(np.log2(p[heldout_ids[:-1], heldout_ids[1:]])))


# --- evaluation and sampling ------------------------------------------------------------------

def evaluate_bits_per_char(model, ids, seq_len=1000):
    """Mean -log2 p(next character) over the id stream ``ids``: every character after the first
    is predicted from all the characters before it. The text is read as one stream, in chunks
    of ``seq_len`` with the state carried from chunk to chunk; forward passes only."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError("evaluate_bits_per_char: ids must be a 1-D stream of at least 2 ids")
    inputs, targets = ids[:-1], ids[1:]
    state, total_nats = (), 0.0
    for start in range(0, len(inputs), seq_len):
        chunk = slice(start, start + seq_len)
        log_p = log_softmax(model.forward(inputs[None, chunk], *state).astype(np.float64))[0]
        state = model.final_state
        total_nats -= log_p[np.arange(len(log_p)), targets[chunk]].sum()
    return total_nats / len(targets) / LN2


def temperature_softmax(logits, temperature):
    """p_i proportional to exp(y_i / temperature), in float64. Temperature 1 is the model's
    own distribution, lower sharpens it towards the most likely character (0 is the argmax
    itself), higher flattens it towards uniform."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        p = np.zeros_like(logits)
        p[np.argmax(logits)] = 1.0
        return p
    scaled = logits / temperature
    e = np.exp(scaled - scaled.max())
    return e / e.sum()


def sample(model, vocab, prefix, length, temperature=1.0, seed=None):
    """Read ``prefix``, then write ``length`` characters, each drawn from the model's prediction
    at ``temperature`` and fed back in as the next input. Returns prefix + the new characters."""
    if not prefix:
        raise ValueError("sample: the prefix must hold at least one character")
    rng = np.random.default_rng(seed)
    logits = model.forward(vocab.encode(prefix)[None])[0, -1]
    state = model.final_state
    new_ids = []
    for _ in range(length):
        p = temperature_softmax(logits, temperature)
        # Inverse-CDF draw: the first index whose cumulative probability exceeds a uniform u.
        next_id = min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), len(p) - 1)
        new_ids.append(next_id)
        logits = model.forward(np.array([[next_id]]), *state)[0, -1]
        state = model.final_state
    return prefix + vocab.decode(new_ids)


# --- training ---------------------------------------------------------------------------------

def _batches_forever(ids, batch_size, seq_len, rng):
    """(new_epoch, inputs, targets) from ``stream_batches``, epoch after epoch; each epoch after
    the first starts at a random offset so the cuts between batches fall in new places."""
    first = True
    while True:
        offset = 0 if first else int(rng.integers(seq_len))
        for i, (x, y) in enumerate(stream_batches(ids[offset:], batch_size, seq_len)):
            yield i == 0, x, y
        first = False


class _ProgressBar:
    """A tqdm bar on stderr that follows the steps, or the seconds of a timed run."""

    def __init__(self, enabled, steps, seconds):
        self.bar, self.timed, self.last = None, steps is None, time.monotonic()
        if enabled:
            from tqdm import tqdm
            if self.timed:
                self.bar = tqdm(total=seconds, file=sys.stderr, dynamic_ncols=True,
                                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}")
            else:
                self.bar = tqdm(total=steps, unit="step", file=sys.stderr, dynamic_ncols=True)

    def update(self, step, elapsed, losses):
        if self.bar is None or time.monotonic() - self.last < 0.25:
            return
        self.last = time.monotonic()
        self.bar.set_postfix_str(f"loss {np.mean(losses[-50:]):.3f} bits/char", refresh=False)
        self.bar.n = min(elapsed, self.bar.total) if self.timed else step
        self.bar.refresh()

    def close(self, step):
        if self.bar is not None:
            self.bar.n = self.bar.total if self.timed else step
            self.bar.close()


def train(model, ids, *, steps=None, seconds=None, batch_size=32, seq_len=32, lr=8e-3,
          optimizer="adam", clip=1.0, lr_decay=True, seed=0, eval_ids=None, eval_every=100,
          progress=False, clock=time.perf_counter):
    """Train ``model`` on the id stream ``ids`` for ``steps`` updates and/or ``seconds`` of wall
    time, whichever ends first.

    Each update reads a batch of ``batch_size`` rows of ``seq_len`` characters, starting from
    the hidden state the previous batch ended in (truncated backpropagation through time: the
    state carries over, the gradient stops at the batch boundary). The gradient is clipped to
    global norm ``clip`` (None: no clipping) and applied by Adam (or Adagrad); with ``lr_decay``
    the learning rate falls linearly from ``lr`` to zero over the run (by step count, or by
    elapsed time when only ``seconds`` is given). With ``eval_ids``, the held-out bits per
    character are measured every ``eval_every`` steps (not counted in the training time).
    ``progress`` shows a tqdm bar on stderr. ``clock`` measures ``seconds`` (wall time;
    ``time.process_time`` would count CPU time).

    Returns a history dict: ``loss`` (training bits per character at every step), ``grad_norm``
    (before clipping), ``lr``, ``heldout`` (a list of (step, bits per character)), ``steps``,
    ``chars`` (characters trained on) and ``seconds`` (training time).
    """
    if steps is None and seconds is None:
        raise ValueError("train: give steps, seconds or both")
    if steps is not None and steps < 1:
        raise ValueError(f"train: steps must be at least 1, got {steps}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"train: seconds must be positive, got {seconds}")
    optimizers = {"adam": Adam, "adagrad": Adagrad}
    if optimizer not in optimizers:
        raise ValueError(f"train: optimizer must be one of {sorted(optimizers)}, got {optimizer!r}")
    opt = optimizers[optimizer](model.params, lr=lr)
    batches = _batches_forever(np.asarray(ids), batch_size, seq_len, np.random.default_rng(seed))
    history = {"loss": [], "grad_norm": [], "lr": [], "heldout": []}
    bar = _ProgressBar(progress, steps, seconds)
    start, eval_time, step, state = clock(), 0.0, 0, ()

    def elapsed():
        return clock() - start - eval_time

    while not ((steps is not None and step >= steps)
               or (seconds is not None and elapsed() >= seconds)):
        done = step / steps if steps is not None else elapsed() / seconds
        opt.lr = lr * (1 - done) if lr_decay else lr
        new_epoch, x, y = next(batches)
        if new_epoch:
            state = ()                   # the rows start again at the top of the text
        loss = model.loss_and_grads(x, y, *state)
        state = model.final_state        # carried into the next batch; the gradient stops here
        norm = clip_by_global_norm(model.grads, clip or np.inf)
        opt.step(model.grads)
        step += 1
        history["loss"].append(loss / LN2)
        history["grad_norm"].append(norm)
        history["lr"].append(opt.lr)
        if eval_ids is not None and (step % eval_every == 0 or step == steps):
            tick = clock()
            history["heldout"].append((step, evaluate_bits_per_char(model, eval_ids)))
            eval_time += clock() - tick
        bar.update(step, elapsed(), history["loss"])
    bar.close(step)
    history.update(steps=step, chars=step * batch_size * seq_len, seconds=elapsed())
    return history


# --- the command line -------------------------------------------------------------------------

def _positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m rnnlib.charlm",
        description="Train a character-level language model on the Python documentation text "
                    "(pydoc_data.topics) for a given wall time and print the held-out bits per "
                    "character as the last line.")
    parser.add_argument("--model", choices=sorted(CELLS), default="rnn",
                        help="the recurrent cell (default: rnn)")
    parser.add_argument("--seconds", type=_positive(float), default=60.0,
                        help="training wall time in seconds (default: 60)")
    parser.add_argument("--hidden", type=_positive(int), help="hidden units (default per model)")
    parser.add_argument("--batch-size", type=_positive(int), help="rows per batch")
    parser.add_argument("--seq-len", type=_positive(int), help="characters per row per batch")
    parser.add_argument("--lr", type=_positive(float), help="initial learning rate")
    parser.add_argument("--optimizer", choices=["adam", "adagrad"], default="adam",
                        help="default adam; adagrad does best near --lr 0.02, well behind adam")
    parser.add_argument("--clip", type=_positive(float), help="global gradient-norm limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=300, metavar="N",
                        help="characters of sample text to print (0 for none; default 300)")
    parser.add_argument("--temperature", type=float, default=0.7,
                        help="sampling temperature (default 0.7)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS[args.model])
    for name in settings:
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    if args.temperature < 0:
        parser.error(f"argument --temperature: must be >= 0, got {args.temperature}")

    text = python_docs_text()
    vocab = CharVocab(text)
    train_text, heldout_text = train_heldout_split(text, 0.1)
    train_ids, heldout_ids = vocab.encode(train_text), vocab.encode(heldout_text)
    V = len(vocab)
    unigram = np.bincount(train_ids, minlength=V) + 1.0
    model = CharLM(args.model, V, settings["hidden"], seed=args.seed, unigram=unigram)
    print(f"text: {len(text):,} characters of pydoc_data.topics, vocabulary {V}; "
          f"training {len(train_ids):,}, held-out {len(heldout_ids):,}")
    print(f"model: {model!r}; batches of {settings['batch_size']} x {settings['seq_len']} "
          f"characters, {args.optimizer} lr {settings['lr']:g} decaying linearly to 0, "
          f"clip {settings['clip']:g}")
    sys.stdout.flush()
    history = train(model, train_ids, seconds=args.seconds, batch_size=settings["batch_size"],
                    seq_len=settings["seq_len"], lr=settings["lr"], optimizer=args.optimizer,
                    clip=settings["clip"], seed=args.seed, progress=not args.no_progress)
    epochs = history["chars"] / len(train_ids)
    print(f"trained {history['seconds']:.1f} s: {history['steps']:,} steps, "
          f"{history['chars']:,} characters ({epochs:.2f} epochs), "
          f"{history['chars'] / history['seconds']:,.0f} characters/s; last training loss "
          f"{np.mean(history['loss'][-20:]):.3f} bits/char")
    uniform = math.log2(V)
    unigram_bpc = unigram_bits_per_char(train_ids, heldout_ids, V)
    bigram_bpc = bigram_bits_per_char(train_ids, heldout_ids, V)
    print(f"held-out baselines: uniform {uniform:.3f}, unigram {unigram_bpc:.3f}, "
          f"bigram {bigram_bpc:.3f} bits/char")
    if args.sample > 0:
        print(f"sample at temperature {args.temperature:g}:")
        print(sample(model, vocab, "The ", args.sample, args.temperature, seed=args.seed))
        print("-" * 40)
    bpc = evaluate_bits_per_char(model, heldout_ids)
    print(f"bits/char: {bpc:.3f}")
    return bpc


if __name__ == "__main__":
    main()
