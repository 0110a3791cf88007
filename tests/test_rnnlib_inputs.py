"""Bad input fails loudly with a message naming what was expected and what was received."""
import numpy as np
import pytest

import rnnlib
from conftest import CELLS


def good_sequence_args(cell, N=2, T=3, D=4, H=5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D))
    states = [None] * (2 if cell.has_cell_state else 1)
    return [x, *states, *cell.params(D, H, rng).values()]


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_sequence_input_of_wrong_rank_names_both_shapes(cell):
    args = good_sequence_args(cell)
    args[0] = args[0][0]  # (T, D): the batch axis forgotten
    with pytest.raises(ValueError) as error:
        cell.forward(*args)
    message = str(error.value)
    assert f"{cell.name}_forward" in message and "x must be 3-D" in message
    assert "(N, T, D)" in message and "(3, 4)" in message


@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_transposed_weight_names_expected_and_received_shape(cell):
    args = good_sequence_args(cell)
    wx_index = 1 + (2 if cell.has_cell_state else 1)
    args[wx_index] = args[wx_index].T.copy()  # (D, G*H) instead of (G*H, D)
    G = cell.gates
    with pytest.raises(ValueError) as error:
        cell.forward(*args)
    message = str(error.value)
    assert "Wx must have shape" in message
    assert f"= ({G * 5}, 4)" in message and f"got (4, {G * 5})" in message


def test_hidden_state_with_wrong_batch_size():
    x, h0 = np.zeros((2, 3, 4)), np.zeros((3, 5))
    Wx, Wh, b = np.zeros((5, 4)), np.zeros((5, 5)), np.zeros(5)
    with pytest.raises(ValueError, match=r"h0 must have shape \(N, H\) = \(2, 5\), got \(3, 5\)"):
        rnnlib.rnn_forward(x, h0, Wx, Wh, b)


def test_lstm_weights_must_stack_four_gates():
    x, h, c = np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((2, 5))
    Wx, Wh, b = np.zeros((15, 4)), np.zeros((15, 5)), np.zeros(15)  # 3H rows: a GRU's weights
    with pytest.raises(ValueError, match=r"Wx must have shape \(4H, D\) = \(20, 4\), got \(15, 4\)"):
        rnnlib.lstm_step_forward(x, h, c, Wx, Wh, b)


def test_upstream_gradient_of_wrong_shape():
    x = np.zeros((2, 3, 4))
    hs, cache = rnnlib.rnn_forward(x, None, np.zeros((5, 4)), np.zeros((5, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"dhs must be 3-D with shape \(2, 3, 5\), got 2-D shape \(2, 5\)"):
        rnnlib.rnn_backward(np.zeros((2, 5)), cache)


def test_integer_and_mixed_dtypes_are_refused():
    Wx, Wh, b = np.zeros((5, 4)), np.zeros((5, 5)), np.zeros(5)
    with pytest.raises(TypeError, match="x must be float32 or float64, got dtype int64"):
        rnnlib.rnn_forward(np.zeros((2, 3, 4), dtype=np.int64), None, Wx, Wh, b)
    with pytest.raises(TypeError, match="Wh has dtype float64 but earlier inputs are float32"):
        rnnlib.rnn_forward(np.zeros((2, 3, 4), dtype=np.float32), None, Wx, Wh, b)


def test_lists_are_refused_rather_than_guessed():
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        rnnlib.rnn_step_forward([[1.0]], np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)),
                                np.zeros(1))


def test_layer_backward_before_forward():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        rnnlib.GRU(3, 4, seed=0).backward(np.zeros((1, 1, 4)))


def test_layer_initialisation_is_seeded_and_dtype_aware():
    a, b = rnnlib.LSTM(3, 4, seed=7), rnnlib.LSTM(3, 4, seed=7)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert a.params["Wx"].shape == (16, 3) and a.params["Wh"].shape == (16, 4)
    assert np.abs(a.params["Wh"]).max() <= 0.5  # torch's bound 1/sqrt(H)
    layer = rnnlib.GRU(3, 4, seed=np.random.default_rng(1), dtype=np.float32)
    assert {p.dtype for p in layer.params.values()} == {np.dtype(np.float32)}
    assert layer.forward(np.zeros((2, 5, 3), dtype=np.float32)).dtype == np.float32
