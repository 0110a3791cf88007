"""The pieces around the recurrence: one-hot inputs, the loss over time, clipping."""
import numpy as np
import pytest
import torch

from rnnlib import clip_by_global_norm, one_hot, softmax, softmax_cross_entropy


def test_one_hot():
    encoded = one_hot(np.array([[0, 3], [2, 1]]), 4)
    assert encoded.shape == (2, 2, 4) and encoded.dtype == np.float64
    assert np.array_equal(encoded.argmax(-1), [[0, 3], [2, 1]]) and encoded.sum() == 4
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\), got values in \[0, 4\]"):
        one_hot(np.array([0, 4]), 4)


def test_softmax_is_stable_for_large_logits():
    p = softmax(np.array([1000.0, 1000.0, -1000.0]))
    assert np.allclose(p, [0.5, 0.5, 0.0]) and np.all(np.isfinite(p))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_cross_entropy_matches_torch(dtype):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)).astype(dtype)
    targets = rng.integers(0, 7, size=(3, 5))
    mask = np.ones((3, 5), dtype=bool)
    mask[1, 3:] = mask[2, 1:] = False  # padded ends of shorter sequences
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)

    logits_t = torch.tensor(logits, requires_grad=True)
    targets_t = torch.tensor(np.where(mask, targets, -100))  # -100: torch's ignore_index
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, 7), targets_t.reshape(-1))
    loss_t.backward()
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(loss - loss_t.item()) < tolerance
    assert np.max(np.abs(dlogits - logits_t.grad.numpy())) < tolerance
    assert dlogits.dtype == dtype and np.asarray(loss).dtype == dtype


def test_uniform_prediction_costs_log_vocabulary():
    loss, _ = softmax_cross_entropy(np.zeros((2, 3, 8)), np.zeros((2, 3), dtype=int))
    assert np.isclose(loss, np.log(8))


def test_cross_entropy_rejects_bad_targets():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"targets must have shape \(N, T\) = \(2, 3\), got \(3, 2\)"):
        softmax_cross_entropy(logits, np.zeros((3, 2), dtype=int))
    with pytest.raises(TypeError, match="targets must be integer class indices"):
        softmax_cross_entropy(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 4\)"):
        softmax_cross_entropy(logits, np.full((2, 3), 4))
    with pytest.raises(ValueError, match="selects no time step"):
        softmax_cross_entropy(logits, np.zeros((2, 3), dtype=int), np.zeros((2, 3)))


def test_clip_by_global_norm_scales_all_gradients_together():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}  # joint norm 5
    norm = clip_by_global_norm(grads, 1.0)
    assert norm == 5.0
    assert np.allclose(grads["a"], [0.6, 0.0]) and np.allclose(grads["b"], [[0.0], [0.8]])
    assert np.isclose(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())), 1.0)


def test_clip_by_global_norm_leaves_small_gradients_and_matches_torch():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(4, 3)), rng.normal(size=5)]
    small = [a.copy() for a in arrays]
    clip_by_global_norm(small, 100.0)
    assert all(np.array_equal(a, s) for a, s in zip(arrays, small))

    params = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
    for p, a in zip(params, arrays):
        p.grad = torch.tensor(a)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, 0.5)
    ours = [a.copy() for a in arrays]
    assert np.isclose(clip_by_global_norm(ours, 0.5), torch_norm.item())
    for o, p in zip(ours, params):
        assert np.allclose(o, p.grad.numpy(), rtol=1e-6)  # torch adds 1e-6 to the norm


def test_clip_by_global_norm_refuses_nan_and_bad_threshold():
    with pytest.raises(FloatingPointError, match="nan"):
        clip_by_global_norm([np.array([np.nan, 1.0])], 1.0)
    with pytest.raises(ValueError, match="max_norm must be positive"):
        clip_by_global_norm([np.ones(2)], 0.0)
