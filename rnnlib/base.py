"""What the layer objects RNN, LSTM and GRU share: parameters, gradients, the torch bridge.

Each layer wraps its functional pair (``*_forward``/``*_backward``) and owns ``params`` and
``grads`` dicts keyed by the names of the functional API (Wx, Wh, b or bx, bh).
"""
import numpy as np


class RecurrentLayer:
    gates = 1                 # G: gate blocks stacked along the first axis of Wx and Wh
    bias_names = ("b",)
    state_names = ("h0",)     # initial states the forward accepts (None means zeros)
    torch_name = "RNN"        # the matching torch.nn class

    def __init__(self, input_size, hidden_size, *, seed=None, dtype=np.float64):
        """Weights uniform in (-1/sqrt(H), 1/sqrt(H)) as in torch; ``seed`` is an int or a
        ``numpy.random.Generator`` (None draws fresh entropy; no global state is used)."""
        rng = np.random.default_rng(seed)
        bound = 1 / np.sqrt(hidden_size)
        rows = self.gates * hidden_size
        shapes = {"Wx": (rows, input_size), "Wh": (rows, hidden_size)}
        shapes.update({name: (rows,) for name in self.bias_names})
        self.params = {name: rng.uniform(-bound, bound, shape).astype(dtype)
                       for name, shape in shapes.items()}
        self.zero_grad()

    @property
    def param_names(self):
        return ("Wx", "Wh") + self.bias_names

    @property
    def input_size(self):
        return self.params["Wx"].shape[1]

    @property
    def hidden_size(self):
        return self.params["Wh"].shape[1]

    def zero_grad(self):
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def forward(self, x, *initial_state):
        """x (N, T, D) -> hs (N, T, H). Optional initial states in the order of ``state_names``."""
        if len(initial_state) > len(self.state_names):
            raise TypeError(f"{type(self).__name__}.forward takes initial states "
                            f"{self.state_names}, got {len(initial_state)}")
        state = initial_state + (None,) * (len(self.state_names) - len(initial_state))
        hs, self._cache = self._forward(x, *state, *(self.params[n] for n in self.param_names))
        self._last_hs = hs
        return hs

    @property
    def final_state(self):
        """The states after the last step of the latest forward, in the order of ``state_names``:
        pass them to the next forward to carry memory across chunks (truncated BPTT)."""
        return (self._last_hs[:, -1].copy(),)

    def backward(self, dhs):
        """dhs (N, T, H) -> dx. Sets ``grads`` and ``dstate`` (gradients of the initial states)."""
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dx, *rest = self._backward(dhs, self._cache)
        k = len(self.state_names)
        self.dstate = tuple(rest[:k])
        self.grads = dict(zip(self.param_names, rest[k:]))
        return dx

    def to_torch(self):
        """The same layer as a ``torch.nn`` module (batch_first=True) with identical numbers."""
        from .torch_bridge import module_from_params
        return module_from_params(self.torch_name, self.params)

    @classmethod
    def from_torch(cls, module):
        """A layer with the weights of a single-layer, unidirectional ``torch.nn`` module."""
        from .torch_bridge import params_from_module
        layer = cls.__new__(cls)
        layer.params = params_from_module(cls.torch_name, module)
        layer.zero_grad()
        return layer

    def __repr__(self):
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, dtype={self.params['Wx'].dtype})")
