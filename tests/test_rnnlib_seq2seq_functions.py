"""rnnlib.seq2seq.decoder_forward and greedy_decode, the functional decoder loops of the
birnn_seq2seq exercise: they agree with Seq2Seq's own loops when handed Seq2Seq's step."""
import doctest

import numpy as np
import pytest

import rnnlib.seq2seq
from rnnlib.seq2seq import Seq2Seq, decoder_forward, greedy_decode

BOS, EOS = 0, 1


def recording(step):
    """The step, and the list of token ids it is given, call by call."""
    seen = []

    def wrapped(ids, state):
        seen.append(np.array(ids))
        return step(ids, state)
    return wrapped, seen


def test_docstring_examples():
    result = doctest.testmod(rnnlib.seq2seq)
    assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("teacher_forcing", [0.0, 0.3, 1.0])
def test_decoder_forward_matches_seq2seq(cell, teacher_forcing):
    rng = np.random.default_rng(0)
    model = Seq2Seq(cell, 5, 6, 4, bos=BOS, seed=1)
    src, tgt = rng.integers(0, 5, (3, 4)), rng.integers(2, 6, (3, 5))
    context = model.encode(src)
    expected_inputs = model.decoder_inputs(context, tgt, teacher_forcing, np.random.default_rng(7))
    step, seen = recording(model._step)
    logits = decoder_forward(step, model._initial_state(context), tgt, BOS, teacher_forcing,
                             np.random.default_rng(7))
    assert logits.shape == (3, 5, 6)
    np.testing.assert_array_equal(np.stack(seen, axis=1), expected_inputs)
    # the logits are those of the decoder run over the chosen inputs as one sequence
    hs = model.decoder.forward(model._one_hot(expected_inputs, model.decoder),
                               *model._initial_state(context))
    np.testing.assert_allclose(logits, hs @ model.params["Wy"].T + model.params["by"], atol=1e-12)


def test_decoder_forward_draws_once_per_step_after_the_first():
    calls = []

    class CountingRng:
        def random(self, size):
            calls.append(size)
            return np.full(size, 0.5)

    step = lambda ids, state: (np.eye(4)[ids], state)  # noqa: E731
    decoder_forward(step, None, np.zeros((2, 5), dtype=int), 3, 0.7, CountingRng())
    assert calls == [2] * 4


def test_decoder_forward_keeps_dtype_and_handles_one_step():
    step = lambda ids, state: (np.eye(3, dtype=np.float32)[ids], state)  # noqa: E731
    logits = decoder_forward(step, None, np.array([[2]]), 1, 0.5, np.random.default_rng(0))
    assert logits.dtype == np.float32 and logits.shape == (1, 1, 3)
    np.testing.assert_array_equal(logits[0, 0], [0, 1, 0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("eos", [None, EOS, 3])
def test_greedy_decode_matches_seq2seq(cell, eos):
    rng = np.random.default_rng(2)
    model = Seq2Seq(cell, 5, 6, 4, bos=BOS, seed=3)
    for p in model.params.values():
        p *= 3                                   # varied outputs rather than one repeated token
    src = rng.integers(0, 5, (6, 4))
    expected = model.greedy_decode(src, 7, eos=eos)
    ids = greedy_decode(model._step, model._initial_state(model.encode(src)), BOS, 7, eos=eos)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, expected)


def test_greedy_decode_repeats_eos_and_stops_early():
    table = np.eye(4)[[1, 2, 3, 3]]              # 0 -> 1 -> 2 -> 3 -> 3 ...
    step, seen = recording(lambda ids, state: (table[ids], state))
    ids = greedy_decode(step, np.zeros((2, 1)), 0, 6, eos=2)
    np.testing.assert_array_equal(ids, [[1, 2, 2, 2, 2, 2]] * 2)
    assert len(seen) == 2                        # no step after every example emitted eos
    np.testing.assert_array_equal(greedy_decode(step, np.zeros((1, 1)), 0, 4), [[1, 2, 3, 3]])
