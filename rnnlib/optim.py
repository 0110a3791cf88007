"""Optimisation helpers."""
import numpy as np


def clip_by_global_norm(grads, max_norm):
    """Scale every gradient by one factor so that their joint L2 norm is at most ``max_norm``.

    ``grads`` is a dict (or list) of arrays, changed in place. Scaling all of them together keeps
    the direction of the update, which clipping each array on its own would not (Pascanu et
    al., 2013). Returns the norm before clipping, worth logging: spikes show exploding gradients.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}")
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in arrays)))
    if not np.isfinite(total):
        raise FloatingPointError(f"clip_by_global_norm: the gradient norm is {total}")
    if total > max_norm:
        for g in arrays:
            g *= max_norm / total
    return total
