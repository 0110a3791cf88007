"""Shared fixtures: the three recurrent cells described once, so every test runs over all of them,
and the built book that the tests of the site read."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rnnlib

# (N, T, D, H): a single sequence of one step, D == H, D != H both ways, and a longer sequence.
SHAPES = [(1, 1, 3, 3), (2, 5, 3, 4), (3, 4, 5, 2), (1, 7, 2, 6)]


@dataclass
class Cell:
    name: str
    gates: int
    bias_names: tuple
    has_cell_state: bool
    step_forward: object
    step_backward: object
    forward: object
    backward: object
    layer: type

    @property
    def param_names(self):
        return ["Wx", "Wh", *self.bias_names]

    def params(self, D, H, rng, dtype=np.float64, scale=0.5):
        G = self.gates * H
        params = {"Wx": rng.normal(0, scale, (G, D)), "Wh": rng.normal(0, scale, (G, H))}
        params.update({b: rng.normal(0, scale, G) for b in self.bias_names})
        return {k: v.astype(dtype) for k, v in params.items()}

    def states(self, N, H, rng, dtype=np.float64):
        count = 2 if self.has_cell_state else 1
        return [rng.normal(0, 0.5, (N, H)).astype(dtype) for _ in range(count)]


CELLS = [
    Cell("rnn", 1, ("b",), False, rnnlib.rnn_step_forward, rnnlib.rnn_step_backward,
         rnnlib.rnn_forward, rnnlib.rnn_backward, rnnlib.RNN),
    Cell("lstm", 4, ("b",), True, rnnlib.lstm_step_forward, rnnlib.lstm_step_backward,
         rnnlib.lstm_forward, rnnlib.lstm_backward, rnnlib.LSTM),
    Cell("gru", 3, ("bx", "bh"), False, rnnlib.gru_step_forward, rnnlib.gru_step_backward,
         rnnlib.gru_forward, rnnlib.gru_backward, rnnlib.GRU),
]


@pytest.fixture(params=CELLS, ids=[c.name for c in CELLS])
def cell(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# The largest float64 difference from torch seen in this run, printed in the summary.
PARITY_ERRORS = []


def pytest_terminal_summary(terminalreporter):
    if PARITY_ERRORS:
        worst = max(PARITY_ERRORS)
        terminalreporter.write_line(
            f"rnnlib vs torch: {len(PARITY_ERRORS)} float64 arrays compared, "
            f"largest absolute difference {worst:.2e}")


@pytest.fixture(scope="module")
def html_dir():
    """_build/html, which `make test` builds before it runs the tests marked `site`."""
    html = Path(__file__).resolve().parents[1] / "_build" / "html"
    if not (html / "index.html").is_file():
        pytest.fail(f"the built book is missing: {html / 'index.html'} does not exist; "
                    "run `make book` first (`make test` does it for you)")
    return html
