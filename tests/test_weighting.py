import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from more_lib.reward.weighting import (
    head_gradients,
    min_norm_weights,
    more_weights,
    per_source_losses,
    weighted_loss,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_head_gradients_equal_autograd_of_a_real_head(dtype):
    torch.manual_seed(0)
    b, h, k = 13, 7, 4
    head = torch.nn.Linear(h, 1).to(dtype)
    z_w, z_l = torch.randn(b, h, dtype=dtype), torch.randn(b, h, dtype=dtype)
    source = torch.randint(0, k - 1, (b,))  # source k-1 has no pair in the batch
    margin = head(z_w).squeeze(-1) - head(z_l).squeeze(-1)

    got = head_gradients(z_w, z_l, margin, source, k)

    assert got.dtype == torch.float32 and not got.requires_grad and got.shape == (k, h)
    for i in range(k - 1):
        loss_i = -F.logsigmoid(margin[source == i]).mean()
        (expected,) = torch.autograd.grad(loss_i, head.weight, retain_graph=True)
        tol = 1e-6 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(got[i].double(), expected[0].double(), rtol=tol, atol=tol * 1e-2)
    assert torch.equal(got[k - 1], torch.zeros(h))


def test_per_source_losses_are_per_source_means_and_differentiable():
    margin = torch.tensor([0.5, -1.0, 2.0, 0.0], requires_grad=True)
    source = torch.tensor([0, 1, 0, 1])
    losses = per_source_losses(margin, source, 3)
    expected = torch.stack(
        [-F.logsigmoid(margin[[0, 2]]).mean(), -F.logsigmoid(margin[[1, 3]]).mean(), torch.tensor(0.0)]
    )
    torch.testing.assert_close(losses, expected)
    losses.sum().backward()
    assert margin.grad is not None and torch.all(margin.grad != 0)


def _simplex_grid(k, steps):
    """Every λ with Σλ = 1 on a grid of spacing 1/steps."""
    head = np.indices((steps + 1,) * (k - 1)).reshape(k - 1, -1).T
    head = head[head.sum(axis=1) <= steps]
    return np.column_stack([head, steps - head.sum(axis=1)]) / steps


GRID_STEPS = {2: 2000, 3: 200, 4: 50, 5: 20}


def _gram_cases(k, rng):
    v = rng.normal(size=6)
    random = rng.normal(size=(k, 6))
    yield "random", random
    yield "random, shared component", random + 3 * v
    # Orthogonal parts around a shared offset: the optimum is inside the simplex, off every edge.
    yield "interior optimum", np.eye(k, 6) * rng.uniform(0.5, 1.5, (k, 1)) + 0.5
    yield "rank deficient", rng.normal(size=(k, 2))
    yield "collinear, same direction", np.outer(rng.uniform(0.5, 2.0, k), v)
    yield "collinear, mixed signs", np.outer(np.r_[-1.0, rng.uniform(0.5, 2.0, k - 1)], v)
    yield "identical", np.tile(v, (k, 1))
    yield "one zero gradient", np.vstack([random[:-1], np.zeros(6)])
    yield "all zero", np.zeros((k, 6))


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_min_norm_weights_beat_a_grid_over_the_simplex(k):
    rng = np.random.default_rng(k)
    grid = _simplex_grid(k, GRID_STEPS[k])
    for name, g in _gram_cases(k, rng):
        gram = g @ g.T
        lam = min_norm_weights(gram)
        assert np.all(lam >= 0) and abs(lam.sum() - 1) < 1e-9, name
        value = lam @ gram @ lam
        grid_min = np.einsum("pi,ij,pj->p", grid, gram, grid).min()
        assert value <= grid_min + 1e-9 * (1 + np.trace(gram)), name
        # Frank-Wolfe gap λᵀGλ - min_i (Gλ)_i bounds the distance to the optimum: near zero.
        assert value - (gram @ lam).min() <= 1e-5 * (1 + np.trace(gram)), name


def test_min_norm_weights_k2_is_the_exact_minimiser():
    rng = np.random.default_rng(1)
    for _ in range(50):
        x1, x2 = rng.normal(size=(2, 5)) + rng.normal(size=5)
        # d/dγ |γ x1 + (1-γ) x2|² = 0  <=>  γ = <x2, x2 - x1> / |x1 - x2|², clamped to [0, 1]
        gamma = np.clip(x2 @ (x2 - x1) / ((x1 - x2) @ (x1 - x2)), 0, 1)
        g = np.vstack([x1, x2])
        np.testing.assert_allclose(min_norm_weights(g @ g.T), [gamma, 1 - gamma], atol=1e-12)


def test_min_norm_weights_degenerate_k2_and_k1():
    v = np.array([1.0, 2.0])
    assert np.array_equal(min_norm_weights([[1.0]]), [1.0])
    for g, expected in [
        (np.vstack([v, 2 * v]), [1.0, 0.0]),  # the shorter of two same-direction vectors
        (np.vstack([v, -v]), [0.5, 0.5]),  # the origin
        (np.vstack([v, np.zeros(2)]), [0.0, 1.0]),  # the zero gradient
        (np.vstack([v, v]), [0.5, 0.5]),  # identical: every γ optimal, the symmetric one
        (np.zeros((2, 2)), [0.5, 0.5]),
    ]:
        np.testing.assert_allclose(min_norm_weights(g @ g.T), expected, atol=1e-12)


def test_uniform_weights_give_the_plain_mixed_loss():
    torch.manual_seed(0)
    k, per_source = 5, 8
    margin = torch.randn(k * per_source, dtype=torch.float64, requires_grad=True)
    source = torch.arange(k).repeat(per_source)[torch.randperm(k * per_source)]
    uniform = torch.full((k,), 1 / k, dtype=torch.float64)

    mixed = -F.logsigmoid(margin).mean()
    ours = weighted_loss(per_source_losses(margin, source, k), uniform)

    torch.testing.assert_close(ours, mixed, rtol=1e-12, atol=0)
    (g_mixed,) = torch.autograd.grad(mixed, margin)
    (g_ours,) = torch.autograd.grad(ours, margin)
    torch.testing.assert_close(g_ours, g_mixed, rtol=1e-12, atol=0)


def _normalised_gram(m):
    g = m.double().numpy()
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    g = g / np.where(norms > 0, norms, 1)
    return g @ g.T


def test_more_weights_momentum_recursion_over_three_calls():
    torch.manual_seed(0)
    alpha = 0.9
    g1, g2, g3 = (torch.randn(4, 16) for _ in range(3))
    expected = [g1, 0.1 * g1 + 0.9 * g2]
    expected.append(0.1 * expected[1] + 0.9 * g3)

    momentum = None
    for g, m in zip([g1, g2, g3], expected, strict=True):
        lam, momentum = more_weights(g, momentum, alpha=alpha)
        torch.testing.assert_close(momentum, m)
        assert lam.dtype == torch.float32 and lam.shape == (4,)
        np.testing.assert_allclose(lam.numpy(), min_norm_weights(_normalised_gram(m)), atol=1e-7)


def test_more_weights_l2_normalises_rows():
    torch.manual_seed(1)
    g = torch.randn(3, 8) + torch.randn(8)
    scaled = g * torch.tensor([[10.0], [1.0], [0.01]])
    # After l2 normalisation only directions matter; without it the short row wins.
    assert torch.allclose(more_weights(scaled, None)[0], more_weights(g, None)[0], atol=1e-6)
    assert not torch.allclose(more_weights(scaled, None, normalize="none")[0], more_weights(g, None)[0])
    # A zero row stays zero (no NaN) and is the min-norm point.
    lam, _ = more_weights(torch.vstack([g[:2], torch.zeros(1, 8)]), None)
    assert torch.equal(lam, torch.tensor([0.0, 0.0, 1.0]))


def test_more_weights_are_deterministic():
    torch.manual_seed(2)
    g, m = torch.randn(5, 32), torch.randn(5, 32)
    first, second = more_weights(g, m), more_weights(g, m)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_more_weights_rejects_unknown_normalisation():
    with pytest.raises(ValueError, match="normalize"):
        more_weights(torch.ones(2, 3), None, normalize="loss")


def test_weighted_loss_uses_lambda_as_given():
    losses = torch.tensor([1.0, 2.0, 4.0])
    assert weighted_loss(losses, torch.tensor([0.5, 0.25, 0.25])).item() == pytest.approx(2.0)


def test_grid_helper_covers_the_simplex():
    grid = _simplex_grid(3, 4)
    assert len(grid) == len(list(itertools.combinations(range(4 + 2), 2)))  # stars and bars
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)


# Resuming on the device. A DeepSpeed job on a GPU gets its client state (MORE's momentum) back on the
# CPU (DeepSpeed loads checkpoints with a CPU map_location) while the gradients of the next step are
# on the GPU. This machine has no GPU: the model lives on `meta` instead, a device other than the one
# that saved or loaded the state, and every restored tensor must come back there.
FINGERPRINT = {"run": "resume on the model's device"}


def _tiny_reward_model():
    from more_lib.core import io
    from more_lib.reward import models

    config = io.read_json(Path(__file__).resolve().parents[1] / "config" / "models" / "tiny-gpt-neox.json")
    tokenizer = models.train_word_tokenizer(["a b c"])
    return models.build_reward_model({"config": {k: v for k, v in config.items() if k != "vocab_size"}},
                                     tokenizer, 0)


def _trainer(model):
    from more_lib.reward import trainers

    return trainers._Plain(model, torch.optim.AdamW(model.parameters(), lr=1e-3))


def _saved_more_run(directory):
    """A plain-loop checkpoint at step 3 of a MORE run (on the CPU), with optimizer state."""
    from more_lib.reward import checkpoint

    model = _tiny_reward_model()
    trainer = _trainer(model)
    checkpoint.start_afresh(directory, FINGERPRINT)
    model(input_ids=torch.tensor([[4, 5, 6]]), use_cache=False).logits.sum().backward()
    trainer.optimizer.step()
    momentum = torch.randn(5, model.config.hidden_size)
    trainer.save(directory, {"step": 3, "log": [{"step": 3, "loss": 0.5}], "more_state": {"momentum": momentum}})
    return momentum


class _CpuClientState:
    """What _DeepSpeed.load returns on a GPU: the engine restores its own states on the device, the
    client state comes back on the CPU."""

    def __init__(self, model, client_state):
        self.model, self.client_state = model, client_state

    def load(self, directory):
        return self.client_state


def test_a_resumed_plain_run_has_its_momentum_and_optimizer_state_on_the_models_device(tmp_path):
    from more_lib.reward import trainers

    momentum = _saved_more_run(tmp_path)
    trainer = _trainer(_tiny_reward_model().to("meta"))
    step, log, more_state = trainers.resume(trainer, tmp_path, {"more_state": {}}, FINGERPRINT)
    assert (step, log) == (3, [{"step": 3, "loss": 0.5}])
    assert more_state["momentum"].device.type == "meta" and more_state["momentum"].shape == momentum.shape
    states = [t for s in trainer.optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    assert states and {t.device.type for t in states if t.dim()} == {"meta"}


def test_a_resumed_deepspeed_client_state_follows_the_model_and_the_next_more_step_runs(tmp_path):
    from more_lib.reward import trainers

    momentum = _saved_more_run(tmp_path)
    model = _tiny_reward_model().to("meta")
    client_state = {"step": 3, "log": [], "more_state": {"momentum": momentum}}  # on the CPU
    _, _, more_state = trainers.resume(_CpuClientState(model, client_state), tmp_path, {"more_state": {}}, FINGERPRINT)
    assert more_state["momentum"].device.type == "meta"
    # the next step's momentum update, with the head gradients on the model's device
    grads = torch.zeros(5, model.config.hidden_size, device="meta")
    assert ((1 - 0.99) * more_state["momentum"] + 0.99 * grads).device.type == "meta"

