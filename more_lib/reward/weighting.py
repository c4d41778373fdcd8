"""MORE's per-source loss weights (the paper's `trainer.py` and `min_norm_solvers.py`).

Each step: the gradient of every source's ranking loss w.r.t. the linear reward head's weight,
a momentum average of those K vectors, row normalisation, then λ on the simplex minimising
||Σ λ_i g_i||² (MGDA, Sener & Koltun 2018) by Frank-Wolfe. The loss is Σ λ_i L_i.
"""

import functools

import numpy as np
import torch
import torch.nn.functional as F

# Relative size of |x - y|² below which two points of a line search count as the same point.
_SAME_POINT = 1e-12


def _per_source_mean(values, source, num_sources):
    """Mean of the rows of `values` ([B] or [B, h]) over each source; a source with no row gives 0."""
    sums = values.new_zeros((num_sources, *values.shape[1:])).index_add(0, source, values)
    counts = torch.bincount(source, minlength=num_sources).clamp(min=1).to(values.dtype)
    return sums / counts.view(-1, *[1] * (values.dim() - 1))


def per_source_losses(margin, source, num_sources):
    """[K] mean ranking loss -log sigmoid(r_w - r_l) of each source (0 for a source with no pair)."""
    return _per_source_mean(-F.logsigmoid(margin), source, num_sources)


def head_gradients(z_chosen, z_rejected, margin, source, num_sources):
    """Per-source gradient of the mean ranking loss w.r.t. the weight of a linear head r = w·z + b.

    z_*: [B, h] pooled hidden states, margin: [B] = r_w - r_l, source: [B] long in [0, K).
    The head is linear, so d/dw of -log sigmoid(margin) is -sigmoid(-margin) * (z_w - z_l): no
    autograd and no copy of the head (the paper's code copies it and runs K backward passes).
    Returns a detached float32 [K, h] tensor; a source with no pair in the batch gets a zero row.
    """
    with torch.no_grad():
        # Hidden states may be bf16: subtract them at float32 or better.
        dtype = torch.promote_types(z_chosen.dtype, torch.float32)
        diff = z_chosen.to(dtype) - z_rejected.to(dtype)
        coeff = -torch.sigmoid(-margin.to(dtype))
        return _per_source_mean(coeff[:, None] * diff, source, num_sources).float()


@functools.cache
def _pairs(k):
    return np.triu_indices(k, 1)


def _best_pair(gram):
    """λ of the best two-point solution over all pairs (i, j), solved in closed form at once."""
    i, j = _pairs(len(gram))
    a, b, c = gram[i, i], gram[i, j], gram[j, j]
    den = a - 2 * b + c  # |g_i - g_j|²
    same = den <= _SAME_POINT * (a + c)
    # Weight of g_i minimising |γ g_i + (1-γ) g_j|²; any γ is optimal for identical points: take 0.5.
    gamma = np.where(same, 0.5, np.clip((c - b) / np.where(same, 1.0, den), 0.0, 1.0))
    cost = gamma**2 * a + 2 * gamma * (1 - gamma) * b + (1 - gamma) ** 2 * c
    p = np.argmin(cost)
    lam = np.zeros(len(gram))
    lam[i[p]], lam[j[p]] = gamma[p], 1 - gamma[p]
    return lam


def min_norm_weights(gram, max_iter=1000, tol=1e-5):
    """λ on the simplex minimising λᵀ G λ (= ||Σ λ_i g_i||²) for a K×K Gram matrix G.

    K = 2 is the exact closed form; K > 2 runs Frank-Wolfe with exact line search from the best
    pair, as in Sener & Koltun's solver (with the exact clamp to [0, 1] where theirs clips to
    0.001/0.999), stopping when ||Δλ||_1 < tol (1e-5 and 1000 steps, as the paper's code). An all-zero G (no information) gives uniform λ.
    Returns float64 [K].
    """
    gram = np.asarray(gram, dtype=np.float64)
    k = len(gram)
    if k == 1 or np.trace(gram) <= 0:
        return np.full(k, 1.0 / k)
    lam = _best_pair(gram)
    diag = gram.diagonal().tolist()
    # Array methods and Python floats: np.argmin(x) or `@` cost several times x.argmin() or .dot here.
    for _ in range(max_iter if k > 2 else 0):
        grad = gram.dot(lam)
        t = grad.argmin()
        # Line search between the current point x = Σ λ_i g_i and the vertex g_t.
        a, b, c = lam.dot(grad).item(), grad.item(t), diag[t]
        den = a - 2 * b + c
        if den <= _SAME_POINT * (a + c):
            break
        gamma = min(max((c - b) / den, 0.0), 1.0)
        # ||Δλ||_1 = (1 - γ) ||e_t - λ||_1 = (1 - γ) * 2 (1 - λ_t) on the simplex.
        if 2 * (1 - gamma) * (1 - lam[t]) < tol:
            break
        lam *= gamma
        lam[t] += 1 - gamma
    return lam


def more_weights(grads, momentum, alpha=0.99, normalize="l2"):
    """One MORE step: momentum, row normalisation, Gram matrix, min-norm λ.

    g_m <- (1 - alpha) * g_m + alpha * g_new, as in the paper's code: alpha weights the NEW
    gradient, so the default 0.99 smooths very little; g_m = g_new when momentum is None.
    normalize: "l2" divides each row by its L2 norm (a zero row stays zero), "none" leaves it.
    The momentum keeps the unnormalised rows, on grads' device (a momentum restored from a checkpoint
    may come back elsewhere: DeepSpeed loads client state onto the CPU). Returns (λ float32 [K] on
    grads' device, momentum).
    """
    momentum = grads if momentum is None else (1 - alpha) * momentum.to(grads.device) + alpha * grads
    g = momentum.double()
    if normalize == "l2":
        norms = g.norm(dim=1, keepdim=True)
        g = g / torch.where(norms > 0, norms, 1.0)
    elif normalize != "none":
        raise ValueError(f"normalize must be 'l2' or 'none', not {normalize!r}")
    lam = min_norm_weights((g @ g.T).cpu().numpy())
    return torch.from_numpy(lam).float().to(grads.device), momentum


def weighted_loss(per_source_losses, lam):
    """Σ λ_i L_i, with L_i the per-source MEAN ranking loss and λ a constant.

    With λ uniform (1/K) and equal-sized per-source batches this is exactly the plain mixed
    ranking loss (the mean over all pairs), so MORE's loss has the same magnitude as MultiTask's
    (Appendix B) without the rescaling the paper's code applies to per-source sums.
    """
    return (lam.to(per_source_losses) * per_source_losses).sum()
