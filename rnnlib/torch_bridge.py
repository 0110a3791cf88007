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
    Wx, Wh = params["Wx"], params["Wh"]
    hidden, inputs = Wh.shape[1], Wx.shape[1]
    module = getattr(torch.nn, torch_name)(inputs, hidden, batch_first=True,
                                           dtype=TORCH_DTYPES[Wx.dtype])
    if "b" in params:
        b_ih, b_hh = params["b"], np.zeros_like(params["b"])
    else:
        b_ih, b_hh = params["bx"], params["bh"]
    with torch.no_grad():
        for name, value in (("weight_ih_l0", Wx), ("weight_hh_l0", Wh),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def params_from_module(torch_name, module):
    expected = getattr(torch.nn, torch_name)
    if not isinstance(module, expected):
        raise TypeError(f"expected a torch.nn.{torch_name}, got {type(module).__name__}")
    unsupported = []
    if module.num_layers != 1:
        unsupported.append(f"num_layers={module.num_layers} (stack rnnlib layers instead)")
    if module.bidirectional:
        unsupported.append("bidirectional=True (use rnnlib.Bidirectional)")
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

    params = {"Wx": array("weight_ih_l0"), "Wh": array("weight_hh_l0")}
    if torch_name == "GRU":
        params.update(bx=array("bias_ih_l0"), bh=array("bias_hh_l0"))
    else:
        params["b"] = array("bias_ih_l0") + array("bias_hh_l0")
    return params
