"""How gradients flow through time in a vanilla RNN: the Jacobian product and truncated BPTT.

The reference implementations of the graded assignment ``gradients`` (chapters 2 and 4 of the
book). Clipping, the third function of that assignment, is ``rnnlib.optim.clip_by_global_norm``.

Shapes (batch first) as in ``rnnlib.rnn``: x (N, T, D), hs (N, T, H), Wx (H, D), Wh (H, H), b (H,).
``hs[:, t]`` is the state after reading ``x[:, t]``, so ``hs[:, t]`` is h_{t+1} in the book's
notation, where h_0 is the initial state and h_1, ..., h_T are the states the layer returns.
"""
import numpy as np

from .checks import ShapeChecker
from .rnn import rnn_backward, rnn_forward


def jacobian_product_norms(hs, Wh):
    """Spectral norms of the Jacobians dh_T/dh_{T-d} of a tanh RNN, for d = 1, ..., T steps back.

    One step's Jacobian is dh_t/dh_{t-1} = diag(1 - h_t^2) Wh, and over d steps

        dh_T/dh_{T-d} = diag(1 - h_T^2) Wh  diag(1 - h_{T-1}^2) Wh  ...  diag(1 - h_{T-d+1}^2) Wh,

    the latest step on the left: going one step further back multiplies the product by the new
    factor on the right. It depends on the states h_{T-d+1}, ..., h_T only, all of them in ``hs``
    (dh_T/dh_0 needs h_1, ..., h_T, not h_0).

    hs: (N, T, H) hidden states as returned by ``rnn_forward``; Wh: (H, H) recurrent weights.
    Returns norms (N, T) with the dtype of ``hs``: ``norms[n, d - 1]`` is the largest singular
    value (``np.linalg.norm(J, 2)``) of example n's product over d steps, so column 0 is one
    step back (dh_T/dh_{T-1}) and the last column goes all the way back to h_0 (dh_T/dh_0).

    >>> Wh = np.array([[2.0]])
    >>> jacobian_product_norms(np.zeros((1, 3, 1)), Wh)   # tanh'(0) = 1: the powers of 2
    array([[2., 4., 8.]])
    """
    check = ShapeChecker("jacobian_product_norms")
    check("hs", hs, ("N", "T", "H"))
    check("Wh", Wh, ("H", "H"))
    N, T, H = hs.shape
    norms = np.empty((N, T), dtype=hs.dtype)
    product = np.broadcast_to(np.eye(H, dtype=hs.dtype), (N, H, H))
    for d in range(1, T + 1):
        h = hs[:, T - d]                          # h_{T-d+1}, the state the new factor belongs to
        factor = (1 - h * h)[:, :, None] * Wh     # diag(1 - h^2) Wh for every example: scales rows
        product = product @ factor                # dh_T/dh_{T-d}
        norms[:, d - 1] = np.linalg.norm(product, 2, axis=(1, 2))
    return norms


def truncated_bptt(x, h0, Wx, Wh, b, dhs, chunk_len):
    """Gradients of truncated backpropagation through time over chunks of ``chunk_len`` steps.

    The sequence is cut into chunks x[:, 0:K], x[:, K:2K], ... (K = chunk_len; the last chunk
    is shorter when K does not divide T). Each chunk runs ``rnn_forward`` from the state the
    previous chunk ended in (h0 for the first), so the forward pass equals one pass over the
    whole sequence; then ``rnn_backward`` on the chunk's ``dhs``, whose gradient for the chunk's
    initial state is thrown away: that is the cut. The weight gradients of the chunks add up.
    With K >= T this is full BPTT.

    x: (N, T, D); h0: (N, H) or None for zeros; Wx: (H, D), Wh: (H, H), b: (H,);
    dhs: (N, T, H) the loss gradient of every hidden state from above; chunk_len: int >= 1.
    Returns hs (N, T, H), dx (N, T, D), dWx, dWh, db, all with the dtype of x.
    """
    check = ShapeChecker("truncated_bptt")
    check("x", x, ("N", "T", "D"))
    check("Wx", Wx, ("H", "D"))
    check("Wh", Wh, ("H", "H"))
    check("b", b, ("H",))
    check("dhs", dhs, ("N", "T", "H"))
    if h0 is not None:
        check("h0", h0, ("N", "H"))
    if isinstance(chunk_len, bool) or not isinstance(chunk_len, (int, np.integer)) or chunk_len < 1:
        raise ValueError(f"truncated_bptt: chunk_len must be a positive integer, got {chunk_len!r}")
    N, T, _ = x.shape
    hs = np.empty(dhs.shape, dtype=x.dtype)
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h = h0
    for start in range(0, T, chunk_len):
        chunk = slice(start, start + chunk_len)
        hs[:, chunk], cache = rnn_forward(x[:, chunk], h, Wx, Wh, b)
        dx[:, chunk], _, dWx_chunk, dWh_chunk, db_chunk = rnn_backward(dhs[:, chunk], cache)
        dWx += dWx_chunk                          # the gradient reaching the chunk's start is dropped
        dWh += dWh_chunk
        db += db_chunk
        h = hs[:, min(start + chunk_len, T) - 1]  # carried into the next chunk as plain numbers
    return hs, dx, dWx, dWh, db
