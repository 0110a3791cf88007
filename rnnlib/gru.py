"""Gated recurrent unit in torch's formulation, gate order r, z, n:

    r = sigmoid(x Wxr^T + bxr + h Whr^T + bhr)     z = sigmoid(x Wxz^T + bxz + h Whz^T + bhz)
    n = tanh(x Wxn^T + bxn + r * (h Whn^T + bhn))  h' = (1 - z) * n + z * h

Wx (3H, D), Wh (3H, H), bx (3H,), bh (3H,). The reset gate multiplies the recurrent product
*after* Wh (torch, cuDNN); Cho et al. (2014) reset h before it: tanh(... + Whn (r * h)).
Because r scales bhn, the two biases cannot be merged as they can in the RNN and the LSTM.
"""
import numpy as np

from .base import RecurrentLayer
from .checks import ShapeChecker, zeros_if_none
from .lstm import sigmoid, sigmoid_into, tanh_into


def _step(ax, h_prev, Wh, bh):
    """From the input projection ax (N, 3H) and h_prev to h and what backward needs."""
    H = h_prev.shape[-1]
    ah = h_prev @ Wh.T + bh
    rz = sigmoid(ax[:, :2 * H] + ah[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    h = (1 - z) * n + z * h_prev
    return h, r, z, n, ah[:, 2 * H:]


def _step_backward(dh, h_prev, r, z, n, ahn, out=(None, None)):
    """Gradients of the input projection dax (N, 3H), the recurrent one dah (N, 3H), and the
    direct part of dh_prev (through z * h_prev). ``out``: optional arrays for dax and dah."""
    dn_pre = dh * (1 - z) * (1 - n * n)
    dz_pre = dh * (h_prev - n) * z * (1 - z)
    dr_pre = dn_pre * ahn * r * (1 - r)
    dax = np.concatenate([dr_pre, dz_pre, dn_pre], axis=-1, out=out[0])
    dah = np.concatenate([dr_pre, dz_pre, dn_pre * r], axis=-1, out=out[1])
    return dax, dah, dh * z


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """One time step. Returns h (N, H) and the cache backward needs."""
    check = ShapeChecker("gru_step_forward")
    check("x", x, ("N", "D"))
    check("h_prev", h_prev, ("N", "H"))
    check("Wx", Wx, ("3H", "D"))
    check("Wh", Wh, ("3H", "H"))
    check("bx", bx, ("3H",))
    check("bh", bh, ("3H",))
    h, r, z, n, ahn = _step(x @ Wx.T + bx, h_prev, Wh, bh)
    return h, (x, h_prev, Wx, Wh, r, z, n, ahn)


def gru_step_backward(dh, cache):
    """Gradients of one step: dx, dh_prev, dWx, dWh, dbx, dbh."""
    x, h_prev, Wx, Wh, r, z, n, ahn = cache
    ShapeChecker("gru_step_backward")("dh", dh, h_prev.shape)
    dax, dah, dh_prev = _step_backward(dh, h_prev, r, z, n, ahn)
    return (dax @ Wx, dh_prev + dah @ Wh, dax.T @ x, dah.T @ h_prev,
            dax.sum(axis=0), dah.sum(axis=0))


def gru_forward(x, h0, Wx, Wh, bx, bh):
    """Run the GRU over a sequence. Returns every hidden state hs (N, T, H) and a cache."""
    check = ShapeChecker("gru_forward")
    check("x", x, ("N", "T", "D"))
    check("Wh", Wh, ("3H", "H"))
    check("Wx", Wx, ("3H", "D"))
    check("bx", bx, ("3H",))
    check("bh", bh, ("3H",))
    N, T, D = x.shape
    H = Wh.shape[1]
    if h0 is not None:
        check("h0", h0, ("N", "H"))
    h0 = zeros_if_none(h0, N, H, x.dtype)
    # Time-major (T, N, ...) buffers, so that each step works on contiguous blocks (see
    # lstm_forward); every step's input projection is one (T*N, D) @ (D, 3H) product.
    axs = (x.transpose(1, 0, 2).reshape(T * N, D) @ Wx.T).reshape(T, N, 3 * H)
    axs += bx
    hs = np.empty((T, N, H), dtype=x.dtype)
    rzn = np.empty((T, N, 3 * H), dtype=x.dtype)  # activated gates r, z, n per step
    ahns = np.empty((T, N, H), dtype=x.dtype)     # h_prev Whn^T + bhn, which r multiplies
    ah = np.empty((N, 3 * H), dtype=x.dtype)      # h @ Wh.T + bh of one step, one buffer for all
    # _step's lines, written into the buffers above in place instead of into new arrays.
    h = h0
    for t in range(T):
        np.matmul(h, Wh.T, out=ah)
        ah += bh
        rz, n = rzn[t, :, :2 * H], rzn[t, :, 2 * H:]
        sigmoid_into(np.add(axs[t, :, :2 * H], ah[:, :2 * H], out=rz), out=rz)
        r, z = rz[:, :H], rz[:, H:]
        ahns[t] = ah[:, 2 * H:]
        np.multiply(r, ah[:, 2 * H:], out=n)
        n += axs[t, :, 2 * H:]
        tanh_into(n, out=n)
        h = np.subtract(h, n, out=hs[t])
        h *= z
        h += n  # h' = (1 - z) * n + z * h = n + z * (h - n), in the row of hs
    # The batch-first (N, T, ...) views of the same memory, no copies.
    rzn, ahns, hs = (buffer.transpose(1, 0, 2) for buffer in (rzn, ahns, hs))
    return hs, (x, h0, Wx, Wh, rzn, ahns, hs)


def gru_backward(dhs, cache):
    """Backpropagation through time for the GRU: dx, dh0, dWx, dWh, dbx, dbh."""
    x, h0, Wx, Wh, rzn, ahns, hs = cache
    ShapeChecker("gru_backward")("dhs", dhs, hs.shape)
    N, T, H = hs.shape
    daxs = np.empty_like(rzn)
    dahs = np.empty_like(rzn)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        r, z, n = rzn[:, t, :H], rzn[:, t, H:2 * H], rzn[:, t, 2 * H:]
        _, _, dh_direct = _step_backward(dhs[:, t] + dh_next, h_prev, r, z, n, ahns[:, t],
                                         out=(daxs[:, t], dahs[:, t]))
        dh_next = dh_direct + dahs[:, t] @ Wh
    h_prevs = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    daxs_2d, dahs_2d = daxs.reshape(N * T, 3 * H), dahs.reshape(N * T, 3 * H)
    dWx = daxs_2d.T @ x.reshape(N * T, -1)
    dWh = dahs_2d.T @ h_prevs.reshape(N * T, H)
    dx = (daxs_2d @ Wx).reshape(N, T, x.shape[2])  # one 2-D product: a 3-D `@` loops over the batch
    return dx, dh_next, dWx, dWh, daxs_2d.sum(axis=0), dahs_2d.sum(axis=0)


class GRU(RecurrentLayer):
    """A GRU layer holding ``params`` {Wx, Wh, bx, bh} (gates r, z, n) and their ``grads``.

    ``forward(x, h0=None) -> hs``; ``backward(dhs) -> dx`` fills ``grads`` and ``dstate``.
    Converts to and from ``torch.nn.GRU(batch_first=True)`` with identical numbers.
    """

    gates = 3
    bias_names = ("bx", "bh")
    torch_name = "GRU"
    _forward = staticmethod(gru_forward)
    _backward = staticmethod(gru_backward)
