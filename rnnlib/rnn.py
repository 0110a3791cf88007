"""The vanilla (Elman) recurrent layer: h_t = tanh(W_xh x_t + W_hh h_{t-1} + b).

Shapes (batch first): x (N, T, D), h (N, H), Wx (H, D), Wh (H, H), b (H,).
Weights are in PyTorch's layout, so ``x @ Wx.T`` is the math ``W_xh x_t`` written for a batch.
"""
import numpy as np

from .base import RecurrentLayer
from .checks import ShapeChecker, zeros_if_none


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """One time step. Returns the new hidden state h (N, H) and the cache backward needs."""
    check = ShapeChecker("rnn_step_forward")
    check("x", x, ("N", "D"))
    check("h_prev", h_prev, ("N", "H"))
    check("Wx", Wx, ("H", "D"))
    check("Wh", Wh, ("H", "H"))
    check("b", b, ("H",))
    h = np.tanh(x @ Wx.T + h_prev @ Wh.T + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Gradients of one step, in the order of the forward's inputs: dx, dh_prev, dWx, dWh, db."""
    x, h_prev, Wx, Wh, h = cache
    ShapeChecker("rnn_step_backward")("dh", dh, h.shape)
    da = dh * (1 - h * h)  # tanh'(a) = 1 - tanh(a)^2, written with the output we kept
    return da @ Wx, da @ Wh, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Run the recurrence over a whole sequence. Returns every hidden state hs (N, T, H) and a cache.

    The input projection of all T steps is one matrix product; only ``h @ Wh.T`` must wait for
    the previous step, which is why recurrence cannot be parallelised over time.
    """
    check = ShapeChecker("rnn_forward")
    check("x", x, ("N", "T", "D"))
    check("Wh", Wh, ("H", "H"))
    check("Wx", Wx, ("H", "D"))
    check("b", b, ("H",))
    N, T, D = x.shape
    H = Wh.shape[0]
    if h0 is not None:
        check("h0", h0, ("N", "H"))
    h0 = zeros_if_none(h0, N, H, x.dtype)
    h = h0
    # Time-major (T, N, H) pre-activations, overwritten step by step: hs[t] is one contiguous
    # block, where numpy's element-wise work runs up to 3x faster than on the strided rows of
    # a batch-first hs[:, t]. Every step's input projection is one (T*N, D) @ (D, H) product.
    hs = (x.transpose(1, 0, 2).reshape(T * N, D) @ Wx.T).reshape(T, N, H)
    hs += b
    recurrent = np.empty((N, H), dtype=x.dtype)  # h @ Wh.T of one step: one buffer for all steps
    for t in range(T):
        hs[t] += np.matmul(h, Wh.T, out=recurrent)
        h = np.tanh(hs[t], out=hs[t])
    hs = hs.transpose(1, 0, 2)  # the batch-first (N, T, H) view of the same memory: no copy
    return hs, (x, h0, Wx, Wh, hs)


def rnn_backward(dhs, cache):
    """Backpropagation through time. ``dhs`` (N, T, H) is the loss gradient of every hidden state
    from above; the gradient flowing back through the recurrence is added here.
    Returns dx, dh0, dWx, dWh, db.
    """
    x, h0, Wx, Wh, hs = cache
    ShapeChecker("rnn_backward")("dhs", dhs, hs.shape)
    N, T, H = hs.shape
    das = np.empty_like(hs)  # gradient of each step's pre-activation
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        h = hs[:, t]
        da = das[:, t]
        np.multiply(dhs[:, t] + dh_next, 1 - h * h, out=da)
        dh_next = da @ Wh
    h_prevs = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    # Weights are shared across time, so their gradients sum over steps: one product each.
    das_2d = das.reshape(N * T, H)
    dWx = das_2d.T @ x.reshape(N * T, -1)
    dWh = das_2d.T @ h_prevs.reshape(N * T, H)
    return das @ Wx, dh_next, dWx, dWh, das_2d.sum(axis=0)


class RNN(RecurrentLayer):
    """A vanilla RNN layer holding ``params`` {Wx, Wh, b} and their ``grads``.

    ``forward(x, h0=None) -> hs``; ``backward(dhs) -> dx`` fills ``grads`` and ``dstate`` = (dh0,).
    Converts to and from ``torch.nn.RNN(batch_first=True)`` with identical numbers.
    """

    gates = 1
    bias_names = ("b",)
    _forward = staticmethod(rnn_forward)
    _backward = staticmethod(rnn_backward)
