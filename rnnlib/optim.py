"""Optimisation: gradient clipping and the optimisers SGD, Adagrad and Adam."""
import numpy as np


def global_norm(grads):
    """The L2 norm of all gradients together (a dict or list of arrays), in float64."""
    arrays = grads.values() if isinstance(grads, dict) else grads
    return float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in arrays)))


def clip_by_global_norm(grads, max_norm):
    """Scale every gradient by one factor so that their joint L2 norm is at most ``max_norm``.

    ``grads`` is a dict (or list) of arrays, changed in place. Scaling all of them together keeps
    the direction of the update, which clipping each array on its own would not (Pascanu et
    al., 2013). Returns the norm before clipping, worth logging: spikes show exploding gradients.
    """
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}")
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total = global_norm(arrays)
    if not np.isfinite(total):
        raise FloatingPointError(f"clip_by_global_norm: the gradient norm is {total}")
    if total > max_norm:
        for g in arrays:
            g *= max_norm / total
    return total


def clip_elementwise(grads, limit):
    """Clip every gradient entry to [-limit, limit] in place (Mikolov's early recipe).

    Cheaper than the global norm but changes the update's direction whenever any entry is
    clipped. Returns the global norm before clipping, for logging.
    """
    if not limit > 0:
        raise ValueError(f"clip_elementwise: limit must be positive, got {limit}")
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total = global_norm(arrays)
    for g in arrays:
        np.clip(g, -limit, limit, out=g)
    return total


class Optimizer:
    """Updates a dict of parameter arrays in place from a dict of gradients with the same keys."""

    def __init__(self, params, lr):
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.params = params
        self.lr = lr
        self.state = {name: {} for name in params}

    def step(self, grads):
        missing = set(self.params) - set(grads)
        if missing:
            raise KeyError(f"{type(self).__name__}.step: no gradient for {sorted(missing)}")
        for name, p in self.params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient of {name} has shape "
                                 f"{g.shape}, the parameter {p.shape}")
            p -= self._update(g, self.state[name]).astype(p.dtype, copy=False)


class SGD(Optimizer):
    """Plain gradient descent, optionally with (heavy-ball) momentum."""

    def __init__(self, params, lr=0.1, momentum=0.0):
        super().__init__(params, lr)
        self.momentum = momentum

    def _update(self, g, state):
        if not self.momentum:
            return self.lr * g
        v = state["v"] = self.momentum * state.get("v", 0.0) + g
        return self.lr * v


class Adagrad(Optimizer):
    """Per-parameter steps lr / sqrt(sum of squared gradients) (Duchi et al., 2011); the
    optimiser of Karpathy's min-char-rnn."""

    def __init__(self, params, lr=0.1, eps=1e-8):
        super().__init__(params, lr)
        self.eps = eps

    def _update(self, g, state):
        state["g2"] = state.get("g2", 0.0) + g * g
        return self.lr * g / (np.sqrt(state["g2"]) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum on the gradient, scaled by a running RMS, both
    bias-corrected for the first steps."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr)
        self.betas = betas
        self.eps = eps
        self.t = 0

    def step(self, grads):
        self.t += 1
        super().step(grads)

    def _update(self, g, state):
        b1, b2 = self.betas
        m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** self.t)
        v_hat = v / (1 - b2 ** self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
