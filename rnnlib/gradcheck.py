"""Centred-difference gradient checks. The estimate::

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has error O(eps^2) from truncation plus about (machine eps * abs(f)) / eps from round-off; in
float64 with eps = 1e-6 both are near 1e-10, so a correct backward shows a relative error
around 1e-9 to 1e-11 and a wrong one shows 1e-2 or worse. Checks need float64: in float32
round-off alone is about 1e-2 at this eps.
"""
import numpy as np


def relative_error(a, b):
    """||a - b|| / (||a|| + ||b||): 0 when equal, 1 when one is zero; scale-free."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


def numerical_gradient(loss, x, eps=1e-6):
    """Centred-difference gradient of the scalar ``loss()`` with respect to the array ``x``,
    which ``loss`` reads and which is perturbed in place one entry at a time (and restored)."""
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs float64 to be meaningful, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, grad_flat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient: x must be contiguous so it can be perturbed in place")
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = loss()
        flat[i] = original - eps
        minus = loss()
        flat[i] = original
        grad_flat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(loss, args, analytic, eps=1e-6):
    """Relative error between ``analytic`` gradients and centred differences of ``loss(*args)``.

    ``args`` are the arrays the loss depends on; ``analytic`` the claimed gradients in the same
    order (None skips an argument). Returns one relative error per argument (None if skipped).

    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> gradcheck(lambda x: np.sum(x ** 3), [x], [3 * x ** 2])[0] < 1e-9
    True
    """
    if len(args) != len(analytic):
        raise ValueError(f"gradcheck: {len(args)} arguments but {len(analytic)} gradients")
    errors = []
    for x, grad in zip(args, analytic):
        if grad is None or x is None:
            errors.append(None)
            continue
        numeric = numerical_gradient(lambda: loss(*args), x, eps)
        errors.append(relative_error(grad, numeric))
    return errors
