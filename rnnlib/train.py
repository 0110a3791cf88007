"""A recurrent layer with a read-out at every step, the losses of the chapters' tasks, and one
training loop (forward, loss, backward, clip, update) that the chapters share."""
import time

import numpy as np

from .gru import GRU
from .layers import one_hot, softmax_cross_entropy, temporal_affine_backward, temporal_affine_forward
from .lstm import LSTM
from .optim import clip_by_global_norm, clip_elementwise, global_norm
from .rnn import RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class SequenceModel:
    """``cell`` ("rnn", "lstm" or "gru") over the inputs, then y_t = W_hy h_t + b_y at every step.

    ``forward(x, *state)`` takes real inputs (N, T, D) or integer ids (N, T), which it turns
    one-hot, and returns y (N, T, O); ``backward(dy)`` fills ``grads``. ``params`` holds the
    layer's arrays and Wy, by (the same arrays, so an optimiser updating ``params`` updates the
    layer). ``final_state`` is the layer's state after the last step, to carry into the next call.
    """

    def __init__(self, cell, input_size, hidden_size, output_size, *, seed=None,
                 dtype=np.float64):
        if cell not in CELLS:
            raise ValueError(f"SequenceModel: cell must be one of {sorted(CELLS)}, got {cell!r}")
        rng = np.random.default_rng(seed)
        self.cell = cell
        self.layer = CELLS[cell](input_size, hidden_size, seed=rng, dtype=dtype)
        bound = 1 / np.sqrt(hidden_size)
        self.params = dict(self.layer.params)
        self.params["Wy"] = rng.uniform(-bound, bound, (output_size, hidden_size)).astype(dtype)
        self.params["by"] = np.zeros(output_size, dtype=dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    @property
    def num_params(self):
        return sum(p.size for p in self.params.values())

    @property
    def final_state(self):
        return self.layer.final_state

    def forward(self, x, *state):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer):
            x = one_hot(x, self.layer.input_size, dtype=self.params["Wy"].dtype)
        self.hs = self.layer.forward(x, *state)
        y, self._head_cache = temporal_affine_forward(self.hs, self.params["Wy"], self.params["by"])
        return y

    def backward(self, dy):
        dhs, dWy, dby = temporal_affine_backward(dy, self._head_cache)
        dx = self.layer.backward(dhs)
        self.grads = {**self.layer.grads, "Wy": dWy, "by": dby}
        return dx

    def __repr__(self):
        return f"SequenceModel({self.cell}, {self.layer!r}, params={self.num_params})"


def last_step_cross_entropy(y, labels):
    """Many-to-one classification: cross-entropy of the last step's logits y[:, -1] against
    ``labels`` (N,). Returns (loss in nats, dy) with dy zero at every earlier step."""
    N, T, _ = y.shape
    targets = np.zeros((N, T), dtype=np.int64)
    targets[:, -1] = labels
    mask = np.zeros((N, T))
    mask[:, -1] = 1
    return softmax_cross_entropy(y, targets, mask)


def last_step_mse(y, targets):
    """Many-to-one regression: mean squared error of y[:, -1, 0] against ``targets`` (N,)."""
    N, _, out_size = y.shape
    if out_size != 1 or np.shape(targets) != (N,):
        raise ValueError(f"last_step_mse: expected y (N, T, 1) and targets (N,), got y {y.shape} "
                         f"and targets {np.shape(targets)}")
    error = y[:, -1, 0] - targets
    dy = np.zeros_like(y)
    dy[:, -1, 0] = 2 * error / N
    return float(np.mean(error ** 2)), dy


def fit(model, batches, loss_fn, optimizer, *, steps, clip=None, clip_kind="norm",
        seconds=None):
    """Train ``model`` on (inputs, targets) pairs drawn from the iterator ``batches``.

    Each step: forward, ``loss_fn(y, targets) -> (loss, dy)``, backward, clipping (``clip_kind``
    "norm" for the global norm, "value" for element-wise; ``clip`` None for none), update.
    Stops after ``steps`` steps, after ``seconds`` of wall time, or when the loss or gradient
    stops being finite (a diverged run). Returns a dict with the per-step ``loss`` and
    ``grad_norm`` (before clipping) and ``diverged``.
    """
    clippers = {"norm": clip_by_global_norm, "value": clip_elementwise}
    if clip_kind not in clippers:
        raise ValueError(f"fit: clip_kind must be 'norm' or 'value', got {clip_kind!r}")
    history = {"loss": [], "grad_norm": [], "diverged": False}
    start = time.perf_counter()
    for _, (x, targets) in zip(range(steps), batches):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, dy = loss_fn(model.forward(x), targets)
            model.backward(dy)
            norm = global_norm(model.grads)
        history["loss"].append(float(loss))
        history["grad_norm"].append(norm)
        if not (np.isfinite(loss) and np.isfinite(norm)):
            history["diverged"] = True
            break
        if clip is not None:
            clippers[clip_kind](model.grads, clip)
        optimizer.step(model.grads)
        if seconds is not None and time.perf_counter() - start > seconds:
            break
    return history
