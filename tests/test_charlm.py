"""The character language model: the command line, the baselines, gradients, evaluation with a
carried state, sampling and training."""
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from rnnlib import charlm, data, gradcheck
from rnnlib.layers import log_softmax
from rnnlib.train import CELLS


@pytest.fixture(scope="module")
def docs():
    text = data.python_docs_text()
    vocab = data.CharVocab(text)
    train_text, heldout_text = data.train_heldout_split(text, 0.1)
    return vocab, vocab.encode(train_text), vocab.encode(heldout_text)


def test_command_line_prints_bits_per_char_last_and_beats_uniform(docs):
    vocab = docs[0]
    run = subprocess.run([sys.executable, "-m", "rnnlib.charlm", "--seconds", "2",
                          "--sample", "40"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"bits/char: \d\.\d{3}", last), run.stdout
    assert float(last.split()[-1]) < math.log2(len(vocab))
    assert "unigram" in run.stdout and "bigram" in run.stdout
    assert "100%" in run.stderr     # the progress bar, on stderr


@pytest.mark.parametrize("argv, message", [
    (["--model", "transformer"], "invalid choice: 'transformer'"),
    (["--seconds", "0"], "--seconds: must be positive, got 0"),
    (["--seconds", "-5"], "--seconds: must be positive, got -5"),
    (["--hidden", "0"], "--hidden: must be positive"),
    (["--temperature", "-1"], "--temperature: must be >= 0"),
])
def test_bad_arguments_stop_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        charlm.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_unigram_bits_per_char_is_the_entropy_of_the_character_counts():
    vocab = data.CharVocab("abracadabra")
    ids = vocab.encode("abracadabra")
    p = np.array([5, 2, 1, 1, 2]) / 11          # a, b, c, d, r
    entropy = -np.sum(p * np.log2(p))
    assert charlm.unigram_bits_per_char(ids, ids, len(vocab), alpha=0) == pytest.approx(entropy)
    # Add-one smoothing: a character never seen in training still costs a finite amount.
    unseen = charlm.unigram_bits_per_char(vocab.encode("aaab"), vocab.encode("c"), len(vocab))
    assert unseen == pytest.approx(math.log2((4 + 5) / 1))


def test_bigram_counts_pairs_and_smooths_unseen_ones():
    vocab = data.CharVocab("ab")
    ids = vocab.encode("abababab")
    assert charlm.bigram_counts(ids, 2).tolist() == [[0, 4], [3, 0]]
    # Without smoothing the alternation is certain: zero bits. An unseen pair "aa" then costs
    # infinitely many bits; add-one makes it (0 + 1) / (4 + 2).
    assert charlm.bigram_bits_per_char(ids, ids, 2, alpha=0) == 0.0
    assert charlm.bigram_bits_per_char(ids, vocab.encode("aa"), 2, alpha=0) == np.inf
    assert charlm.bigram_bits_per_char(ids, vocab.encode("aa"), 2) == pytest.approx(math.log2(6))


def test_bigram_beats_unigram_on_the_docs_text(docs):
    vocab, train_ids, heldout_ids = docs
    unigram = charlm.unigram_bits_per_char(train_ids, heldout_ids, len(vocab))
    bigram = charlm.bigram_bits_per_char(train_ids, heldout_ids, len(vocab))
    assert bigram < unigram - 1 < math.log2(len(vocab)) - 2


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_model_gradient_matches_centred_differences(cell):
    rng = np.random.default_rng(0)
    V, H, N, T = 5, 4, 2, 3
    model = charlm.CharLM(cell, V, H, seed=1, dtype=np.float64, unigram=np.arange(1, V + 1))
    inputs, targets = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    model.forward(rng.integers(0, V, (N, 4)))
    state = model.final_state                  # a carried, non-zero initial state
    model.loss_and_grads(inputs, targets, *state)
    names = list(model.params)
    errors = gradcheck(lambda *_: model.loss_and_grads(inputs, targets, *state),
                       [model.params[n] for n in names], [model.grads[n].copy() for n in names])
    assert max(errors) < 1e-7, dict(zip(names, errors))


def test_unigram_initialisation_predicts_the_character_frequencies():
    counts = np.array([1.0, 2.0, 7.0])
    model = charlm.CharLM("rnn", 3, 4, seed=0, dtype=np.float64, unigram=counts)
    model.params["Wy"][:] = 0                  # the read-out alone: the bias
    p = np.exp(log_softmax(model.forward(np.zeros((1, 2), dtype=int))))
    np.testing.assert_allclose(p[0, 0], counts / counts.sum())


def test_evaluation_in_chunks_carries_the_state(docs):
    vocab, _, heldout_ids = docs
    model = charlm.CharLM("gru", len(vocab), 8, seed=0, dtype=np.float64)
    ids = heldout_ids[:60]
    log_p = log_softmax(model.forward(ids[None, :-1]))[0]
    whole = -log_p[np.arange(59), ids[1:]].mean() / math.log(2)
    assert charlm.evaluate_bits_per_char(model, ids, seq_len=7) == pytest.approx(whole, rel=1e-12)


def test_near_zero_temperature_samples_the_greedy_argmax(docs):
    vocab = docs[0]
    model = charlm.CharLM("lstm", len(vocab), 16, seed=3, dtype=np.float64)
    text = "def "
    for _ in range(15):         # greedy, re-reading the whole text from a zero state each time
        text += vocab.chars[int(np.argmax(model.forward(vocab.encode(text)[None])[0, -1]))]
    assert charlm.sample(model, vocab, "def ", 15, temperature=1e-6, seed=0) == text
    assert charlm.sample(model, vocab, "def ", 15, temperature=0, seed=1) == text


def test_temperature_reshapes_the_distribution():
    logits = np.array([2.0, 1.0, 0.0])
    p1 = charlm.temperature_softmax(logits, 1.0)
    np.testing.assert_allclose(p1, np.exp(logits) / np.exp(logits).sum())
    assert charlm.temperature_softmax(logits, 0.5)[0] > p1[0]
    np.testing.assert_allclose(charlm.temperature_softmax(logits, 1e6), 1 / 3, atol=1e-5)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        charlm.temperature_softmax(logits, -1)


def test_training_is_seeded_and_learns_a_repeating_text():
    vocab = data.CharVocab("hello world ")
    ids = vocab.encode("hello world " * 60)

    def run():
        model = charlm.CharLM("rnn", len(vocab), 16, seed=0)
        history = charlm.train(model, ids, steps=60, batch_size=4, seq_len=12, lr=0.02,
                               eval_ids=ids[:100], eval_every=30)
        return model, history

    model, history = run()
    assert history["steps"] == 60 and history["chars"] == 60 * 4 * 12
    assert [s for s, _ in history["heldout"]] == [30, 60]
    assert history["heldout"][-1][1] < 0.5 < 2.5 < history["loss"][0]
    assert history["lr"][0] == 0.02 and history["lr"][-1] < 0.001     # linear decay
    assert run()[1]["loss"] == history["loss"]
    assert charlm.sample(model, vocab, "hello", 7, temperature=0) == "hello world "


def test_train_rejects_a_run_without_an_end():
    model = charlm.CharLM("rnn", 3, 4, seed=0)
    with pytest.raises(ValueError, match="give steps, seconds or both"):
        charlm.train(model, np.arange(3).repeat(100))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        charlm.train(model, np.arange(3).repeat(100), steps=1, optimizer="lbfgs")

