"""Copying parameters between rnnlib and ``torch.nn.RNN/LSTM/GRU``.

rnnlib already stores weights in torch's layout (gates stacked along the first axis, in
torch's order), so the bridge copies arrays and deals with the biases only: torch keeps two
(``bias_ih``, ``bias_hh``); the RNN and the LSTM need just their sum, the GRU needs both because
its candidate multiplies ``bias_hh`` by the reset gate.
"""
import numpy as np
import torch

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def module_from_params(torch_name, params):
    """A ``torch.nn`` module (batch_first=True) holding ``params``; keys with the suffix
    ``_reverse`` make it bidirectional."""
    Wx, Wh = params["Wx"], params["Wh"]
    hidden, inputs = Wh.shape[1], Wx.shape[1]
    bidirectional = "Wx_reverse" in params
    module = getattr(torch.nn, torch_name)(inputs, hidden, batch_first=True,
                                           bidirectional=bidirectional,
                                           dtype=TORCH_DTYPES[Wx.dtype])
    with torch.no_grad():
        for suffix in ("", "_reverse") if bidirectional else ("",):
            if "b" in params:
                b_ih = params["b" + suffix]
                b_hh = np.zeros_like(b_ih)
            else:
                b_ih, b_hh = params["bx" + suffix], params["bh" + suffix]
            for name, value in (("weight_ih_l0", params["Wx" + suffix]),
                                ("weight_hh_l0", params["Wh" + suffix]),
                                ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
                getattr(module, name + suffix).copy_(
                    torch.from_numpy(np.ascontiguousarray(value)))
    return module


def params_from_module(torch_name, module, bidirectional=False):
    expected = getattr(torch.nn, torch_name)
    if not isinstance(module, expected):
        raise TypeError(f"expected a torch.nn.{torch_name}, got {type(module).__name__}")
    unsupported = []
    if module.num_layers != 1:
        unsupported.append(f"num_layers={module.num_layers} (stack rnnlib layers instead)")
    if module.bidirectional and not bidirectional:
        unsupported.append("bidirectional=True (use rnnlib.Bidirectional.from_torch)")
    if bidirectional and not module.bidirectional:
        unsupported.append("bidirectional=False (use the single-direction layer's from_torch)")
    if not module.bias:
        unsupported.append("bias=False")
    if getattr(module, "nonlinearity", "tanh") != "tanh":
        unsupported.append(f"nonlinearity={module.nonlinearity!r}")
    if getattr(module, "proj_size", 0):
        unsupported.append(f"proj_size={module.proj_size}")
    if unsupported:
        raise ValueError(f"cannot convert torch.nn.{torch_name} with " + ", ".join(unsupported))
    if module.weight_ih_l0.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"torch.nn.{torch_name} has dtype {module.weight_ih_l0.dtype}; "
                        "rnnlib supports float32 and float64")

    def array(name):
        return getattr(module, name).detach().cpu().numpy().copy()

    params = {}
    for suffix in ("", "_reverse") if bidirectional else ("",):
        params.update({"Wx" + suffix: array("weight_ih_l0" + suffix),
                       "Wh" + suffix: array("weight_hh_l0" + suffix)})
        if torch_name == "GRU":
            params.update({"bx" + suffix: array("bias_ih_l0" + suffix),
                           "bh" + suffix: array("bias_hh_l0" + suffix)})
        else:
            params["b" + suffix] = array("bias_ih_l0" + suffix) + array("bias_hh_l0" + suffix)
    return params
