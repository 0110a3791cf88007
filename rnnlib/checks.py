"""Input checks shared by every rnnlib function.

A wrong shape must fail loudly with both shapes in the message, never broadcast into a silent
wrong answer. Shapes are written with symbols, e.g. ``("N", "T", "D")`` or ``("4H", "D")``;
the first array that fixes a symbol binds it and every later array must agree.
"""
import re

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)
_SYMBOL = re.compile(r"^(\d*)([A-Za-z]\w*)$")


class ShapeChecker:
    """Checks the arrays given to one function call against symbolic shapes.

    >>> check = ShapeChecker("rnn_step_forward")
    >>> check("x", np.zeros((2, 3)), ("N", "D"))
    >>> check("h_prev", np.zeros((2, 4)), ("N", "H"))
    >>> check.dims
    {'N': 2, 'D': 3, 'H': 4}
    """

    def __init__(self, where):
        self.where = where
        self.dims = {}
        self.dtype = None

    def __call__(self, name, array, spec):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{self.where}: {name} must be a numpy array, got {type(array).__name__}")
        self._check_dtype(name, array)
        wanted = "(" + ", ".join(map(str, spec)) + ")"
        if array.ndim != len(spec):
            raise ValueError(
                f"{self.where}: {name} must be {len(spec)}-D with shape {wanted}, "
                f"got {array.ndim}-D shape {array.shape}"
            )
        parsed = [_parse(s) for s in spec]
        # Bind plain symbols first so that ("4H", "H") learns H from the second axis.
        for (mult, sym), size in zip(parsed, array.shape):
            if sym is not None and mult == 1 and sym not in self.dims:
                self.dims[sym] = size
        for (mult, sym), size in zip(parsed, array.shape):
            if sym is not None and sym not in self.dims:
                if size % mult:
                    raise ValueError(
                        f"{self.where}: {name} must have shape {wanted}, got {array.shape}: "
                        f"{size} is not a multiple of {mult}"
                    )
                self.dims[sym] = size // mult
        expected = tuple(mult * self.dims[sym] if sym else mult for mult, sym in parsed)
        if expected != array.shape:
            raise ValueError(
                f"{self.where}: {name} must have shape {wanted} = {expected}, got {array.shape}"
            )

    def _check_dtype(self, name, array):
        if array.dtype.type not in FLOAT_DTYPES:
            raise TypeError(
                f"{self.where}: {name} must be float32 or float64, got dtype {array.dtype}"
            )
        if self.dtype is None:
            self.dtype = array.dtype
        elif array.dtype != self.dtype:
            raise TypeError(
                f"{self.where}: {name} has dtype {array.dtype} but earlier inputs are "
                f"{self.dtype}; convert all inputs to one dtype"
            )


def _parse(symbol):
    """'4H' -> (4, 'H'); 'N' -> (1, 'N'); 7 -> (7, None)."""
    if isinstance(symbol, int):
        return symbol, None
    match = _SYMBOL.match(symbol)
    if not match:
        raise ValueError(f"bad shape symbol {symbol!r}")
    return int(match.group(1) or 1), match.group(2)


def zeros_if_none(h0, n, h, dtype):
    """The initial state: a given one, or zeros (DESIGN: ``h0 None means zeros``)."""
    return np.zeros((n, h), dtype=dtype) if h0 is None else h0
