"""Data for the course, all of it shipped with Python or generated: nothing is downloaded.

- ``python_docs_text``: about 465,000 characters of English prose and code examples, the help
  topics of the Python documentation that every CPython carries in ``pydoc_data.topics``.
- ``CharVocab`` and ``stream_batches``: characters to integer ids, and a long id stream cut into
  the (N, T) batches of a language model, each row continuing where it stopped in the last batch.
- Synthetic tasks whose answer needs memory of a known length: ``delayed_echo``,
  ``first_token_task`` and ``adding_problem``.
"""
import numpy as np


def python_docs_text():
    """The help topics of ``pydoc_data.topics`` joined in sorted key order with newlines."""
    from pydoc_data.topics import topics
    return "\n".join(topics[key] for key in sorted(topics))


def train_heldout_split(text, heldout_fraction=0.1):
    """The first part for training, the last ``heldout_fraction`` held out (no shuffling:
    neighbouring characters are not independent, so a random split would leak)."""
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    cut = int(round(len(text) * (1 - heldout_fraction)))
    return text[:cut], text[cut:]


class CharVocab:
    """The sorted set of characters of a text, with ``encode`` (str -> int ids) and ``decode``."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        if not self.chars:
            raise ValueError("CharVocab: the text is empty")
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        try:
            return np.array([self.index[ch] for ch in text], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"CharVocab.encode: character {err.args[0]!r} is not in the "
                             f"vocabulary") from None

    def decode(self, ids):
        return "".join(self.chars[i] for i in np.asarray(ids).ravel())


def stream_batches(ids, batch_size, seq_len):
    """Cut a 1-D id stream into ``batch_size`` parallel rows and yield (inputs, targets) pairs of
    shape (batch_size, seq_len), targets being the inputs shifted by one character.

    Row n of each batch continues row n of the previous batch, so a model may carry its final
    hidden state from one batch into the next (truncated backpropagation through time).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"stream_batches: ids must be 1-D, got shape {ids.shape}")
    row_len = (len(ids) - 1) // batch_size
    if row_len < seq_len:
        raise ValueError(f"stream_batches: {len(ids)} ids are too few for {batch_size} rows "
                         f"of {seq_len} steps")
    inputs = ids[:batch_size * row_len].reshape(batch_size, row_len)
    targets = ids[1:batch_size * row_len + 1].reshape(batch_size, row_len)
    for start in range(0, row_len - seq_len + 1, seq_len):
        yield inputs[:, start:start + seq_len], targets[:, start:start + seq_len]


def delayed_echo(n, T, lag, seed=None):
    """Random bits x (n, T) and targets y (n, T) with y_t = x_{t-lag} (and 0 before that):
    the answer at every step is the input ``lag`` steps back, a dependency of known length."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(n, T))
    y = np.zeros_like(x)
    y[:, lag:] = x[:, :T - lag]
    return x, y


def first_token_task(n, T, num_classes=2, num_fillers=8, seed=None):
    """Sequences whose label is fixed by the first token alone, followed by T-1 random fillers.

    The generated form of "they wanted more for ... -> themselves" / "he wanted more for ...
    -> himself": token ids 0..num_classes-1 are the subjects, ids num_classes.. are fillers that
    carry no information. Returns ids (n, T) and labels (n,).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=n)
    ids = rng.integers(num_classes, num_classes + num_fillers, size=(n, T))
    ids[:, 0] = labels
    return ids, labels


def adding_problem(n, T, seed=None):
    """The adding problem (Hochreiter & Schmidhuber, 1997): x (n, T, 2) holds a random number in
    [0, 1) and a marker; exactly two steps are marked, one in each half of the sequence, and the
    target y (n,) is the sum of the two marked numbers. Always answering the mean sum 1 scores
    a mean squared error of 2 * Var(U[0,1]) = 1/6 ~ 0.167: the baseline to beat."""
    if T < 2:
        raise ValueError(f"adding_problem: T must be at least 2, got {T}")
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, 2))
    x[:, :, 0] = rng.random((n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    rows = np.arange(n)
    x[rows, first, 1] = 1
    x[rows, second, 1] = 1
    return x, x[rows, first, 0] + x[rows, second, 0]
