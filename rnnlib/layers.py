"""The non-recurrent pieces around a recurrent layer: one-hot inputs, the output projection
y_t = W_hy h_t + b_y applied at every step, and the softmax cross-entropy loss over time."""
import numpy as np

from .checks import ShapeChecker


def one_hot(indices, size, dtype=np.float64):
    """Integer array of any shape -> one-hot float array with a trailing axis of ``size``."""
    indices = np.asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"one_hot: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(f"one_hot: indices must lie in [0, {size}), got values in "
                         f"[{indices.min()}, {indices.max()}]")
    return np.eye(size, dtype=dtype)[indices]


def temporal_affine_forward(h, Wy, by):
    """y_t = W_hy h_t + b_y at every step: h (N, T, H), Wy (V, H), by (V,) -> y (N, T, V)."""
    check = ShapeChecker("temporal_affine_forward")
    check("h", h, ("N", "T", "H"))
    check("Wy", Wy, ("V", "H"))
    check("by", by, ("V",))
    return h @ Wy.T + by, (h, Wy)


def temporal_affine_backward(dy, cache):
    """Gradients dh, dWy, dby; the weight gradient sums over batch and time in one product."""
    h, Wy = cache
    N, T, H = h.shape
    ShapeChecker("temporal_affine_backward")("dy", dy, (N, T, Wy.shape[0]))
    dy_2d = dy.reshape(N * T, -1)
    return dy @ Wy, dy_2d.T @ h.reshape(N * T, H), dy_2d.sum(axis=0)


def softmax(logits, axis=-1):
    """Probabilities exp(logits) / sum(exp(logits)) along ``axis``, computed without overflow."""
    shifted = logits - logits.max(axis=axis, keepdims=True)  # exp never overflows
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits, axis=-1):
    """log(softmax(logits)) computed without overflow or log(0)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_cross_entropy(logits, targets, mask=None):
    """Mean cross-entropy (in nats) over the time steps that count.

    logits (N, T, V); targets (N, T) integer classes; mask (N, T) of 0/1 or bool marks the
    steps that count (padding is 0). The loss is averaged over counted steps, so it reads as
    nats per symbol (divide by ln 2 for bits). Returns (loss, dlogits).
    """
    check = ShapeChecker("softmax_cross_entropy")
    check("logits", logits, ("N", "T", "V"))
    N, T, V = logits.shape
    targets = np.asarray(targets)
    if targets.shape != (N, T):
        raise ValueError(f"softmax_cross_entropy: targets must have shape (N, T) = {(N, T)}, "
                         f"got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"softmax_cross_entropy: targets must be integer class indices, "
                        f"got dtype {targets.dtype}")
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(f"softmax_cross_entropy: targets must lie in [0, {V}), got values in "
                         f"[{targets.min()}, {targets.max()}]")
    if mask is None:
        mask = np.ones((N, T), dtype=logits.dtype)
    else:
        mask = np.asarray(mask)
        if mask.shape != (N, T):
            raise ValueError(f"softmax_cross_entropy: mask must have shape (N, T) = {(N, T)}, "
                             f"got {mask.shape}")
        mask = mask.astype(logits.dtype)
    count = mask.sum()
    if count == 0:
        raise ValueError("softmax_cross_entropy: the mask selects no time step")
    log_probs = log_softmax(logits)
    n_idx, t_idx = np.indices((N, T))
    loss = -(log_probs[n_idx, t_idx, targets] * mask).sum() / count
    dlogits = np.exp(log_probs)
    dlogits[n_idx, t_idx, targets] -= 1
    dlogits *= (mask / count)[..., None]
    return loss.astype(logits.dtype)[()], dlogits
