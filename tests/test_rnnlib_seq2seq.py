"""rnnlib.Seq2Seq: gradients under teacher forcing and scheduled sampling, decoding, schedules."""
import numpy as np
import pytest

import rnnlib
from rnnlib.layers import log_softmax
from rnnlib.seq2seq import Seq2Seq, teacher_forcing_schedule

BOS, EOS = 0, 1


def small_batch(rng, N=3, S=5, T=4, src_vocab=6, tgt_vocab=7):
    src = rng.integers(0, src_vocab, size=(N, S))
    lengths = np.array([S, 2, 4][:N])
    tgt = rng.integers(2, tgt_vocab, size=(N, T))
    mask = np.ones((N, T))
    mask[1, 2:] = 0
    return src, lengths, tgt, mask


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("teacher_forcing", [1.0, 0.5])
def test_loss_gradients_pass_gradcheck(cell, teacher_forcing, rng):
    src, lengths, tgt, mask = small_batch(rng)
    model = Seq2Seq(cell, 6, 7, 4, bos=BOS, seed=0)
    for params in model.params.values():
        params *= 2                              # larger gradients reaching the encoder

    def loss():
        return model.loss_and_grads(src, tgt, src_lengths=lengths, tgt_mask=mask,
                                    teacher_forcing=teacher_forcing, rng=5)

    loss()
    analytic = {k: g.copy() for k, g in model.grads.items()}
    for name, p in model.params.items():
        numeric = rnnlib.numerical_gradient(loss, p)
        # The encoder's gradients are ~1e-4 after passing the decoder; centred differences
        # carry ~1e-10 of round-off, hence 1e-6 here (a wrong gradient shows > 1e-2).
        assert rnnlib.relative_error(analytic[name], numeric) < 1e-6, name


def test_padding_after_a_source_does_not_change_its_context(rng):
    model = Seq2Seq("gru", 6, 7, 4, bos=BOS, seed=0)
    src = rng.integers(0, 6, size=(1, 3))
    padded = np.concatenate([src, rng.integers(0, 6, size=(1, 4))], axis=1)
    np.testing.assert_array_equal(model.encode(src), model.encode(padded, src_lengths=[3]))
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(src, src_lengths=[4])


def sequence_log_prob(model, src, tokens):
    """log p(tokens | src) under the model, one step at a time."""
    state = model._initial_state(model.encode(src))
    previous, total = np.array([BOS]), 0.0
    for token in tokens:
        logits, state = model._step(previous, state)
        total += log_softmax(logits)[0, token]
        previous = np.array([token])
    return total


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_beam_search_width_one_is_greedy_and_wider_beams_score_no_worse(cell, rng):
    model = Seq2Seq(cell, 6, 5, 8, bos=BOS, seed=3)
    for params in model.params.values():
        params *= 3                              # sharper distributions, more varied outputs
    src = rng.integers(0, 6, size=(6, 4))
    greedy = model.greedy_decode(src, max_len=6, eos=EOS)
    narrow, narrow_scores = model.beam_search(src, max_len=6, beam_width=1, eos=EOS)
    wide, wide_scores = model.beam_search(src, max_len=6, beam_width=5, eos=EOS)
    for n in range(len(src)):
        np.testing.assert_array_equal(greedy[n, :len(narrow[n])], narrow[n])
        assert narrow_scores[n] == pytest.approx(sequence_log_prob(model, src[n:n + 1], narrow[n]))
        assert wide_scores[n] == pytest.approx(sequence_log_prob(model, src[n:n + 1], wide[n]))
        assert wide_scores[n] >= narrow_scores[n] - 1e-12


def test_learns_to_reverse_short_sequences():
    rng = np.random.default_rng(0)
    model = Seq2Seq("gru", 4, 6, 32, bos=BOS, seed=0)
    optimizer = rnnlib.Adam(model.params, lr=0.02)

    def batch(n):
        src = rng.integers(0, 4, size=(n, 4))
        return src, np.concatenate([src[:, ::-1] + 2, np.full((n, 1), EOS)], axis=1)

    for _ in range(300):
        src, tgt = batch(32)
        model.loss_and_grads(src, tgt)
        rnnlib.clip_by_global_norm(model.grads, 5.0)
        optimizer.step(model.grads)
    src, tgt = batch(200)
    exact = np.mean((model.greedy_decode(src, max_len=5, eos=EOS) == tgt).all(axis=1))
    assert exact > 0.9


def test_teacher_forcing_schedules():
    assert teacher_forcing_schedule("linear", 0, k=100) == 1.0
    assert teacher_forcing_schedule("linear", 50, k=100) == 0.5
    assert teacher_forcing_schedule("linear", 150, k=100) == 0.0
    assert teacher_forcing_schedule("exponential", 2, k=0.9) == pytest.approx(0.81)
    values = [teacher_forcing_schedule("inverse_sigmoid", s, k=10) for s in (0, 20, 50, 100)]
    assert values[0] == pytest.approx(10 / 11) and all(np.diff(values) < 0) and values[-1] < 0.01
    with pytest.raises(ValueError, match="0 < k < 1"):
        teacher_forcing_schedule("exponential", 1, k=2)
    with pytest.raises(ValueError, match="kind must be"):
        teacher_forcing_schedule("cosine", 1, k=2)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_teacher_forced_loss_and_gradients_match_torch(cell, rng):
    import torch

    from conftest import PARITY_ERRORS

    src, lengths, tgt, mask = small_batch(rng)
    model = Seq2Seq(cell, 6, 7, 4, bos=BOS, seed=1)
    loss = model.loss_and_grads(src, tgt, src_lengths=lengths, tgt_mask=mask)

    encoder, decoder = model.encoder.to_torch(), model.decoder.to_torch()
    Wy = torch.tensor(model.params["Wy"], requires_grad=True)
    by = torch.tensor(model.params["by"], requires_grad=True)
    hs, _ = encoder(torch.nn.functional.one_hot(torch.tensor(src), 6).double())
    context = hs[torch.arange(len(src)), torch.tensor(lengths) - 1][None]
    state = (context, torch.zeros_like(context)) if cell == "lstm" else context
    inputs = np.concatenate([np.full((len(tgt), 1), BOS), tgt[:, :-1]], axis=1)
    out, _ = decoder(torch.nn.functional.one_hot(torch.tensor(inputs), 7).double(), state)
    log_p = torch.log_softmax(out @ Wy.T + by, dim=-1)
    picked = log_p.gather(-1, torch.tensor(tgt)[..., None])[..., 0]
    torch_loss = -(picked * torch.tensor(mask)).sum() / mask.sum()
    torch_loss.backward()

    diffs = [abs(loss - torch_loss.item()),
             np.abs(model.grads["Wy"] - Wy.grad.numpy()).max(),
             np.abs(model.grads["by"] - by.grad.numpy()).max()]
    for prefix, module in (("encoder_", encoder), ("decoder_", decoder)):
        ours = model.grads
        grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
        diffs.append(np.abs(ours[prefix + "Wx"] - grads["weight_ih_l0"]).max())
        diffs.append(np.abs(ours[prefix + "Wh"] - grads["weight_hh_l0"]).max())
        if cell == "gru":
            diffs.append(np.abs(ours[prefix + "bx"] - grads["bias_ih_l0"]).max())
            diffs.append(np.abs(ours[prefix + "bh"] - grads["bias_hh_l0"]).max())
        else:
            diffs.append(np.abs(ours[prefix + "b"] - grads["bias_ih_l0"]).max())
    PARITY_ERRORS.extend(diffs)
    assert max(diffs) < 1e-12
