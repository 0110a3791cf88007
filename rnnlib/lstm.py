"""Long short-term memory (Hochreiter & Schmidhuber, 1997), with torch's gate order i, f, g, o.

    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)

where a = x_t Wx^T + h_{t-1} Wh^T + b is one fused (N, 4H) product: Wx (4H, D), Wh (4H, H), b (4H,).
"""
import numpy as np

from .base import RecurrentLayer
from .checks import ShapeChecker, zeros_if_none


def sigmoid(a):
    """Logistic function without overflow warnings for large |a|."""
    return 0.5 * (1 + np.tanh(0.5 * a))


def sigmoid_into(a, out):
    """sigmoid(a) written into ``out`` (which may be ``a`` itself), as 1 / (1 + exp(-a)).

    The same function as ``sigmoid`` above, and faster: numpy's exp is up to twice as fast as its
    tanh (in float64 its tanh is not vectorised). The sequence functions use it, in place.
    """
    np.negative(a, out=out)
    with np.errstate(over="ignore"):  # exp(-a) = inf for very negative a: 1 / inf = 0, right
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def tanh_into(a, out):
    """tanh(a) written into ``out`` (which may be ``a`` itself), as 2 / (1 + exp(-2a)) - 1: the
    same function as ``np.tanh``, twice as fast in float64, where numpy's tanh is not vectorised.
    """
    np.multiply(a, -2, out=out)
    with np.errstate(over="ignore"):  # exp(-2a) = inf for very negative a: 2 / inf - 1 = -1, right
        np.exp(out, out=out)
    out += 1
    np.divide(2, out, out=out)
    out -= 1
    return out


def _gates(a):
    """Pre-activations (N, 4H) -> activated gates i, f, g, o in one (N, 4H) array."""
    H = a.shape[-1] // 4
    gates = sigmoid(a)
    gates[..., 2 * H:3 * H] = np.tanh(a[..., 2 * H:3 * H])
    return gates


def _split(gates):
    H = gates.shape[-1] // 4
    return (gates[..., k * H:(k + 1) * H] for k in range(4))


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One time step. Returns h (N, H), c (N, H) and the cache backward needs."""
    check = ShapeChecker("lstm_step_forward")
    check("x", x, ("N", "D"))
    check("h_prev", h_prev, ("N", "H"))
    check("c_prev", c_prev, ("N", "H"))
    check("Wx", Wx, ("4H", "D"))
    check("Wh", Wh, ("4H", "H"))
    check("b", b, ("4H",))
    gates = _gates(x @ Wx.T + h_prev @ Wh.T + b)
    i, f, g, o = _split(gates)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, Wx, Wh, gates, tanh_c)


def _step_pre_activation_grad(dh, dc, c_prev, gates, tanh_c, out=None):
    """Gradient of the fused pre-activation (N, 4H) and of c_prev, given dh and dc of this step.
    ``out`` is an optional (N, 4H) array to write the first into (lstm_backward's row of das)."""
    i, f, g, o = _split(gates)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)  # the cell feeds h through tanh as well
    da = np.concatenate([dc * g * i * (1 - i),     # input gate
                         dc * c_prev * f * (1 - f),  # forget gate
                         dc * i * (1 - g * g),       # candidate
                         dh * tanh_c * o * (1 - o)], axis=-1, out=out)  # output gate
    return da, dc * f


def lstm_step_backward(dh, dc, cache):
    """Gradients of one step: dx, dh_prev, dc_prev, dWx, dWh, db."""
    x, h_prev, c_prev, Wx, Wh, gates, tanh_c = cache
    check = ShapeChecker("lstm_step_backward")
    check("dh", dh, h_prev.shape)
    check("dc", dc, h_prev.shape)
    da, dc_prev = _step_pre_activation_grad(dh, dc, c_prev, gates, tanh_c)
    return da @ Wx, da @ Wh, dc_prev, da.T @ x, da.T @ h_prev, da.sum(axis=0)


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """Run the LSTM over a sequence. Returns every hidden state hs (N, T, H) and a cache.
    ``h0``/``c0`` None mean zeros."""
    check = ShapeChecker("lstm_forward")
    check("x", x, ("N", "T", "D"))
    check("Wh", Wh, ("4H", "H"))
    check("Wx", Wx, ("4H", "D"))
    check("b", b, ("4H",))
    N, T, D = x.shape
    H = Wh.shape[1]
    for name, state in (("h0", h0), ("c0", c0)):
        if state is not None:
            check(name, state, ("N", "H"))
    h0 = zeros_if_none(h0, N, H, x.dtype)
    c0 = zeros_if_none(c0, N, H, x.dtype)
    # Time-major (T, N, ...) buffers: each step's slice gates[t] is one contiguous block, where
    # numpy's element-wise work runs up to 3x faster than on the strided rows of gates[:, t].
    # Every step's input projection is one (T*N, D) @ (D, 4H) product; the loop adds h @ Wh.T.
    gates = (x.transpose(1, 0, 2).reshape(T * N, D) @ Wx.T).reshape(T, N, 4 * H)
    gates += b
    hs = np.empty((T, N, H), dtype=x.dtype)
    cs = np.empty((T, N, H), dtype=x.dtype)
    recurrent = np.empty((N, 4 * H), dtype=x.dtype)  # h @ Wh.T of one step, one buffer for all
    tanh_c = np.empty((N, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        a = gates[t]  # a view: the step's activated gates overwrite its pre-activations
        a += np.matmul(h, Wh.T, out=recurrent)
        i, f, g, o = _split(a)
        g *= 2  # tanh(a) = 2 sigmoid(2a) - 1: one sigmoid call activates all four gates
        sigmoid_into(a, out=a)
        g *= 2
        g -= 1
        c = np.multiply(f, c, out=cs[t])
        c += i * g  # c_t = f * c_{t-1} + i * g, written straight into cs
        h = np.multiply(o, tanh_into(c, out=tanh_c), out=hs[t])
    # The batch-first (N, T, ...) views of the same memory, no copies; lstm_backward's
    # np.empty_like keeps this layout, so its steps work on contiguous blocks too.
    gates, cs, hs = (buffer.transpose(1, 0, 2) for buffer in (gates, cs, hs))
    return hs, (x, h0, c0, Wx, Wh, gates, cs, hs)


def lstm_backward(dhs, cache):
    """Backpropagation through time for the LSTM: dx, dh0, dc0, dWx, dWh, db.
    ``dhs`` (N, T, H) is the upstream gradient of every hidden state."""
    x, h0, c0, Wx, Wh, gates, cs, hs = cache
    ShapeChecker("lstm_backward")("dhs", dhs, hs.shape)
    N, T, H = hs.shape
    D = x.shape[2]
    das = np.empty_like(gates)
    dh_next = np.zeros_like(h0)
    dc_next = np.zeros_like(c0)
    tanh_cs = tanh_into(cs, out=np.empty_like(cs))  # tanh(c_t) of every step in one call
    for t in reversed(range(T)):
        c_prev = cs[:, t - 1] if t > 0 else c0
        _, dc_next = _step_pre_activation_grad(dhs[:, t] + dh_next, dc_next, c_prev,
                                               gates[:, t], tanh_cs[:, t], out=das[:, t])
        dh_next = das[:, t] @ Wh
    h_prevs = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    das_2d = das.reshape(N * T, 4 * H)
    dWx = das_2d.T @ x.reshape(N * T, -1)
    dWh = das_2d.T @ h_prevs.reshape(N * T, H)
    dx = (das_2d @ Wx).reshape(N, T, D)  # one 2-D product: a 3-D `das @ Wx` loops over the batch
    return dx, dh_next, dc_next, dWx, dWh, das_2d.sum(axis=0)


class LSTM(RecurrentLayer):
    """An LSTM layer holding ``params`` {Wx, Wh, b} (gates i, f, g, o) and their ``grads``.

    ``forward(x, h0=None, c0=None) -> hs``; ``backward(dhs) -> dx`` fills ``grads`` and
    ``dstate`` = (dh0, dc0). Converts to and from ``torch.nn.LSTM(batch_first=True)``.
    """

    gates = 4
    state_names = ("h0", "c0")
    torch_name = "LSTM"
    _forward = staticmethod(lstm_forward)
    _backward = staticmethod(lstm_backward)

    @property
    def final_state(self):
        cs = self._cache[6]
        return (self._last_hs[:, -1].copy(), cs[:, -1].copy())
