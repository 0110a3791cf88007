"""Optimisers (against torch.optim), data and tasks, the SequenceModel and the training loop."""
import numpy as np
import pytest
import torch

import rnnlib
from rnnlib import data
from rnnlib.train import CELLS

OPTIMISERS = [
    (rnnlib.SGD, dict(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    (rnnlib.SGD, dict(lr=0.1, momentum=0.9), torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (rnnlib.Adagrad, dict(lr=0.1, eps=1e-10), torch.optim.Adagrad, dict(lr=0.1, eps=1e-10)),
    (rnnlib.Adam, dict(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
]


@pytest.mark.parametrize("ours, our_kw, theirs, their_kw", OPTIMISERS,
                         ids=["sgd", "sgd-momentum", "adagrad", "adam"])
def test_optimiser_matches_torch_over_several_steps(ours, our_kw, theirs, their_kw):
    rng = np.random.default_rng(0)
    start = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    params = {k: v.copy() for k, v in start.items()}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    opt, topt = ours(params, **our_kw), theirs(list(tensors.values()), **their_kw)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in start.items()}
        opt.step(grads)
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
    for k in start:
        np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_optimiser_rejects_missing_or_misshaped_gradients():
    params = {"W": np.zeros((2, 2))}
    with pytest.raises(KeyError, match="no gradient for \\['W'\\]"):
        rnnlib.Adam(params).step({})
    with pytest.raises(ValueError, match="gradient of W has shape \\(3,\\)"):
        rnnlib.Adam(params).step({"W": np.zeros(3)})
    with pytest.raises(ValueError, match="lr must be positive"):
        rnnlib.SGD(params, lr=0)


def test_clip_elementwise_clips_each_entry_and_returns_the_norm_before():
    grads = {"a": np.array([3.0, -4.0, 0.5])}
    norm = rnnlib.clip_elementwise(grads, 1.0)
    assert norm == pytest.approx(np.sqrt(9 + 16 + 0.25))
    np.testing.assert_array_equal(grads["a"], [1.0, -1.0, 0.5])


def test_python_docs_text_split_and_vocab():
    text = data.python_docs_text()
    assert len(text) > 400_000
    train, heldout = data.train_heldout_split(text)
    assert train + heldout == text
    assert len(heldout) == pytest.approx(0.1 * len(text), abs=1)
    vocab = data.CharVocab(text)
    ids = vocab.encode(heldout[:500])
    assert vocab.decode(ids) == heldout[:500]
    with pytest.raises(ValueError, match="'\\\\x00' is not in the vocabulary"):
        vocab.encode("\x00")


def test_stream_batches_rows_continue_across_batches():
    ids = np.arange(101)
    batches = list(data.stream_batches(ids, batch_size=4, seq_len=5))
    assert len(batches) == 5                      # 4 rows of 25 steps, 5 steps at a time
    x0, y0 = batches[0]
    x1, _ = batches[1]
    np.testing.assert_array_equal(y0, x0 + 1)     # targets are the next character
    np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)  # each row goes on where it stopped
    with pytest.raises(ValueError, match="too few"):
        next(data.stream_batches(np.arange(10), batch_size=4, seq_len=5))


def test_synthetic_tasks_have_the_advertised_answers():
    x, y = data.delayed_echo(50, 12, lag=3, seed=0)
    np.testing.assert_array_equal(y[:, 3:], x[:, :-3])
    ids, labels = data.first_token_task(40, 9, num_classes=2, num_fillers=5, seed=0)
    np.testing.assert_array_equal(ids[:, 0], labels)
    assert ids[:, 1:].min() >= 2 and ids[:, 1:].max() < 7
    x, y = data.adding_problem(20000, 30, seed=0)
    assert (x[:, :, 1].sum(axis=1) == 2).all()
    np.testing.assert_allclose(y, (x[:, :, 0] * x[:, :, 1]).sum(axis=1))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("loss", ["xent", "mse"])
def test_sequence_model_gradients_pass_gradcheck(cell, loss):
    rng = np.random.default_rng(1)
    out = 3 if loss == "xent" else 1
    model = rnnlib.SequenceModel(cell, 4, 5, out, seed=2)
    x = rng.integers(0, 4, size=(3, 6))
    if loss == "xent":
        targets, loss_fn = rng.integers(0, 3, size=3), rnnlib.last_step_cross_entropy
    else:
        targets, loss_fn = rng.normal(size=3), rnnlib.last_step_mse

    def loss_only():
        return loss_fn(model.forward(x), targets)[0]

    _, dy = loss_fn(model.forward(x), targets)
    model.backward(dy)
    for name, p in model.params.items():
        numeric = rnnlib.numerical_gradient(loss_only, p)
        assert rnnlib.relative_error(model.grads[name], numeric) < 1e-7, name


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_carrying_final_state_equals_one_long_forward(cell):
    """Truncated BPTT cuts the gradient, not the forward: chunks with the state carried over
    produce exactly the outputs of one pass over the whole sequence."""
    model = rnnlib.SequenceModel(cell, 3, 4, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 10, 3))
    whole = model.forward(x)
    first = model.forward(x[:, :6])
    second = model.forward(x[:, 6:], *model.final_state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-15)


def test_fit_learns_a_short_dependency_and_reports_divergence():
    model = rnnlib.SequenceModel("rnn", 2, 16, 2, seed=0)
    batches = (data.delayed_echo(32, 10, lag=1, seed=s) for s in range(10**6))

    def loss_fn(y, targets):
        return rnnlib.softmax_cross_entropy(y, targets)

    history = rnnlib.fit(model, batches, loss_fn, rnnlib.Adam(model.params, lr=0.01), steps=300)
    assert not history["diverged"]
    assert history["loss"][-1] < 0.1 < np.log(2) - 0.1 < history["loss"][0]

    def nan_loss(y, targets):
        loss, dy = loss_fn(y, targets)
        return float("nan"), dy

    history = rnnlib.fit(model, batches, nan_loss, rnnlib.SGD(model.params), steps=5)
    assert history["diverged"] and len(history["loss"]) == 1
