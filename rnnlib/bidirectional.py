"""Bidirectional recurrent layers: one layer reads the sequence left to right, a second one reads
it right to left, and their hidden states are merged at every step, so the output at step t
sees the whole sequence (Schuster & Paliwal, 1997).

The merge is the only new piece of calculus: concatenation splits its gradient in two, a sum
copies it to both directions. Reading right to left is just reading the time-reversed sequence,
so the reverse layer is an ordinary layer applied to ``x[:, ::-1]``, whose outputs are flipped
back into the original order before the merge.
"""
import numpy as np

from .checks import ShapeChecker
from .train import CELLS

MERGES = ("concat", "sum")


def merge_forward(hs_forward, hs_reverse, mode="concat"):
    """Merge the two directions' hidden states, both (N, T, H) in the original time order.

    "concat" gives (N, T, 2H) with the left-to-right states first (torch's layout); "sum" gives
    (N, T, H). Returns (out, cache)."""
    check = ShapeChecker("merge_forward")
    check("hs_forward", hs_forward, ("N", "T", "H"))
    check("hs_reverse", hs_reverse, ("N", "T", "H"))
    if mode == "concat":
        out = np.concatenate([hs_forward, hs_reverse], axis=-1)
    elif mode == "sum":
        out = hs_forward + hs_reverse
    else:
        raise ValueError(f"merge_forward: mode must be one of {MERGES}, got {mode!r}")
    return out, (mode, hs_forward.shape[-1])


def merge_backward(dout, cache):
    """Gradients (dhs_forward, dhs_reverse) of the merge: the two halves of dout for "concat",
    dout itself twice for "sum"."""
    mode, H = cache
    if mode == "concat":
        ShapeChecker("merge_backward")("dout", dout, ("N", "T", 2 * H))
        return dout[..., :H], dout[..., H:]
    ShapeChecker("merge_backward")("dout", dout, ("N", "T", H))
    return dout, dout.copy()


class Bidirectional:
    """Two layers of one kind ("rnn", "lstm" or "gru") over opposite directions, merged.

    ``params`` holds the left-to-right layer's arrays under their usual names (Wx, Wh, b ...) and
    the right-to-left layer's with the suffix ``_reverse``, as torch names them. ``forward(x)``
    returns (N, T, 2H) for "concat" or (N, T, H) for "sum"; ``backward(dout)`` returns dx and
    fills ``grads``. ``to_torch()`` gives ``torch.nn.RNN/LSTM/GRU(bidirectional=True)`` (concat).
    """

    def __init__(self, cell, input_size, hidden_size, *, merge="concat", seed=None,
                 dtype=np.float64):
        if cell not in CELLS:
            raise ValueError(f"Bidirectional: cell must be one of {sorted(CELLS)}, "
                             f"got {cell!r}")
        if merge not in MERGES:
            raise ValueError(f"Bidirectional: merge must be one of {MERGES}, got {merge!r}")
        rng = np.random.default_rng(seed)
        layer = CELLS[cell]
        self.cell, self.merge = cell, merge
        self.forward_layer = layer(input_size, hidden_size, seed=rng, dtype=dtype)
        self.reverse_layer = layer(input_size, hidden_size, seed=rng, dtype=dtype)
        self._link_params()

    def _link_params(self):
        self.params = dict(self.forward_layer.params)
        self.params.update({f"{k}_reverse": v for k, v in self.reverse_layer.params.items()})
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    @property
    def hidden_size(self):
        return self.forward_layer.hidden_size

    def forward(self, x):
        hs_forward = self.forward_layer.forward(x)
        hs_reverse = self.reverse_layer.forward(x[:, ::-1])[:, ::-1]
        out, self._merge_cache = merge_forward(hs_forward, hs_reverse, self.merge)
        return out

    def backward(self, dout):
        dhs_forward, dhs_reverse = merge_backward(dout, self._merge_cache)
        dx = self.forward_layer.backward(dhs_forward)
        dx = dx + self.reverse_layer.backward(np.ascontiguousarray(dhs_reverse[:, ::-1]))[:, ::-1]
        self.grads = dict(self.forward_layer.grads)
        self.grads.update({f"{k}_reverse": v for k, v in self.reverse_layer.grads.items()})
        return dx

    def to_torch(self):
        from .torch_bridge import module_from_params
        if self.merge != "concat":
            raise ValueError("Bidirectional.to_torch: torch concatenates the two directions; "
                             "this layer sums them")
        return module_from_params(self.forward_layer.torch_name, self.params)

    @classmethod
    def from_torch(cls, module):
        """A concatenating Bidirectional with the weights of a single-layer torch module built
        with ``bidirectional=True``."""
        from .torch_bridge import params_from_module
        cell = type(module).__name__.lower()
        if cell not in CELLS:
            raise TypeError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
        layer_cls = CELLS[cell]
        params = params_from_module(layer_cls.torch_name, module, bidirectional=True)
        self = cls.__new__(cls)
        self.cell, self.merge = cell, "concat"
        self.forward_layer = layer_cls.__new__(layer_cls)
        self.reverse_layer = layer_cls.__new__(layer_cls)
        self.forward_layer.params = {k: v for k, v in params.items() if not k.endswith("_reverse")}
        self.reverse_layer.params = {k[:-len("_reverse")]: v for k, v in params.items()
                                     if k.endswith("_reverse")}
        for layer in (self.forward_layer, self.reverse_layer):
            layer.zero_grad()
        self._link_params()
        return self

    def __repr__(self):
        return (f"Bidirectional({self.cell!r}, input_size={self.forward_layer.input_size}, "
                f"hidden_size={self.hidden_size}, merge={self.merge!r})")
