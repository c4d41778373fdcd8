"""Reward-model training: one loop for Single, MultiTask and MORE, plain torch or DeepSpeed.

Launched by `python`, the loop runs in one process with torch's AdamW. Launched by
`torchrun`/`deepspeed` (WORLD_SIZE set), the same loop runs through a DeepSpeed engine: each rank
takes its share of every source's pairs, DeepSpeed averages the gradients, and MORE all-reduces
the K head gradients before solving for λ so every rank uses the same weights.
"""

import math
import time

import torch

from more_lib.align import policy
from more_lib.core import device, progress
from more_lib.core.errors import ConfigError
from more_lib.core.seeding import rng_for
from more_lib.reward import models, weighting
from more_lib.reward.trainers import make_trainer, rank_and_world, resume


def step_plan(num_pairs, pairs_per_source, seed, sources):
    """For each step, the indices of each source's pairs: one epoch, b pairs per source a step."""
    orders = [rng_for(seed, "order", name).permutation(n) for name, n in zip(sources, num_pairs)]
    steps = min(num_pairs) // pairs_per_source
    return [[order[s * pairs_per_source:(s + 1) * pairs_per_source] for order in orders] for s in range(steps)]


def encode_step(tokenizer, records_by_source, indices, max_length, rank=0, world=1, packed=False, buckets=1):
    """This rank's pairs as one batch (models.encode_texts, padded, bucketed or packed): chosen texts
    first, then rejected; and `source`, each pair's source."""
    pairs = [(k, records[i]) for k, (records, idx) in enumerate(zip(records_by_source, indices))
             for i in idx[rank::world]]
    texts = [r["prompt"] + r[side] for side in ("chosen", "rejected") for _, r in pairs]
    return {**models.encode_texts(tokenizer, texts, max_length, packed, buckets),
            "source": torch.tensor([k for k, _ in pairs])}


def _all_reduce_mean(tensor):
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(tensor)
        tensor /= torch.distributed.get_world_size()
    return tensor


def train_step(model, batch, sources, scheme, more_state, settings):
    """Forward, per-source losses, task weights λ, weighted loss. Returns (loss, log row)."""
    source = batch["source"]
    num_sources = len(sources)
    rewards, z = models.rewards_and_features(model, batch)
    half = len(source)
    margin = rewards[:half] - rewards[half:]
    losses = weighting.per_source_losses(margin, source, num_sources)
    if scheme == "more":
        grads = weighting.head_gradients(z[:half], z[half:], margin, source, num_sources)
        lam, more_state["momentum"] = weighting.more_weights(
            _all_reduce_mean(grads), more_state.get("momentum"),
            settings["more"]["alpha"], settings["more"]["normalize"])
    else:
        lam = torch.full((num_sources,), 1.0 / num_sources)
    loss = weighting.weighted_loss(losses, lam.to(losses.dtype))
    # the log shows the whole batch, not this rank's share of it
    seen = _all_reduce_mean(torch.cat([losses.detach(), (margin > 0).float().mean().reshape(1)]))
    row = {"loss": weighting.weighted_loss(seen[:-1], lam.to(seen.dtype)).item(), "accuracy": seen[-1].item(),
           **{f"loss_{name}": v for name, v in zip(sources, seen[:-1].tolist())},
           **{f"lambda_{name}": v for name, v in zip(sources, lam.tolist())}}
    return loss, row


def optimise_step(trainer, batch, sources, scheme, more_state, settings):
    """One update of a reward model: forward in the trainer's precision, λ, backward, optimiser step.
    Returns the step's log row and the norm of the gradient it applied."""
    with trainer.precision():
        loss, row = train_step(trainer.model, batch, sources, scheme, more_state, settings)
    return row, trainer.backward_and_step(loss)


def stop_if_diverged(step, settings, values, live):
    """Stop at the first of `values` ({what: number}, in the order to report them) that is not finite:
    the steps after it would train NaN weights to the end and exit 0 (a NaN momentum keeps MORE's λ NaN).
    The values are the whole batch's, the same on every rank, so all ranks stop together. The live view
    is closed first: its log keeps the steps before, and the error is the run's last line."""
    for what, value in values.items():
        if value is not None and not math.isfinite(value):
            live.close()
            raise ConfigError(f"training diverged at step {step}: {what} is {value} (lr {settings['lr']:g})")


def live_view(live_dir, log, plan, max_steps, settings, desc):
    """The run's progress bar and (given `live_dir`) its live train_log.csv and TensorBoard files."""
    total = min(len(plan), max_steps or len(plan))
    return progress.Live(live_dir, log, total, settings["log_every"], desc, primary=rank_and_world()[0] == 0)


def train_reward_model(model, tokenizer, records_by_source, scheme, settings, seed, checkpoint_dir, max_steps=None, *,
                       fingerprint, live_dir=None):
    """Train `model` in place; return the log rows (one per step) for rank 0 to write. Rank 0 also
    writes them into `live_dir` as training goes (more_lib.core.progress)."""
    rank, world = rank_and_world()
    sources = [records[0]["source"] for records in records_by_source]
    plan = step_plan([len(r) for r in records_by_source], settings["pairs_per_source"], seed, sources)
    trainer = make_trainer(model, settings, len(sources) * settings["pairs_per_source"] // world)
    start, log, more_state = resume(trainer, checkpoint_dir, {"more_state": {}}, fingerprint)
    live = live_view(live_dir, log, plan, max_steps, settings, scheme)
    trainer.model.train()
    for step in range(start, min(len(plan), max_steps or len(plan))):
        began = time.perf_counter()
        batch = device.inputs_for(trainer.model, encode_step(tokenizer, records_by_source, plan[step],
                                                             settings["max_length"], rank, world,
                                                             settings.get("packed", False),
                                                             settings.get("length_buckets", 1)))
        row, grad_norm = optimise_step(trainer, batch, sources, scheme, more_state, settings)
        stop_if_diverged(step + 1, settings, {**{f"the loss of {name}": row[f"loss_{name}"] for name in sources},
                                              **{f"λ of {name}": row[f"lambda_{name}"] for name in sources},
                                              "the gradient norm": grad_norm}, live)
        log.append({"step": step + 1, **row, "seconds": time.perf_counter() - began})
        live.add(log[-1])
        if (step + 1) % settings["checkpoint_every"] == 0:
            trainer.save(checkpoint_dir, {"step": step + 1, "log": log, "more_state": more_state})
            live.flush()
    live.close()
    return trainer, log, sources


def example_plan(num_examples, batch_size, epochs, seed):
    """For each step, the indices of its examples: `epochs` shuffled passes, the last partial batch kept."""
    orders = [rng_for(seed, "policy-order", epoch).permutation(num_examples) for epoch in range(epochs)]
    return [order[i:i + batch_size] for order in orders for i in range(0, num_examples, batch_size)]


def train_policy(model, tokenizer, examples, settings, seed, checkpoint_dir, max_steps=None, *, fingerprint,
                 live_dir=None):
    """Causal-LM training on (ids, labels) examples (pre-training, SFT or RJS); returns the trainer
    and one log row per step. Under torchrun each rank takes its share of every batch."""
    rank, world = rank_and_world()
    plan = example_plan(len(examples), settings["batch_size"], settings["epochs"], seed)
    trainer = make_trainer(model, settings, max(1, settings["batch_size"] // world))
    start, log = resume(trainer, checkpoint_dir, {}, fingerprint)
    live = live_view(live_dir, log, plan, max_steps, settings, "policy")
    trainer.model.train()
    for step in range(start, min(len(plan), max_steps or len(plan))):
        began = time.perf_counter()
        with trainer.precision():
            nll, tokens = policy.bucketed_token_losses(trainer.model, tokenizer,
                                                       [examples[i] for i in plan[step][rank::world]],
                                                       settings.get("length_buckets", 1))
        # the mean over the whole batch's tokens, whichever rank holds them: ranks' gradients are averaged
        seen = _all_reduce_mean(torch.stack([nll.detach().float(), tokens.float()]))
        grad_norm = trainer.backward_and_step(nll / seen[1].clamp(min=1))
        # the summed loss: the mean is NaN for a batch with no label token, which is no divergence
        stop_if_diverged(step + 1, settings, {"the loss": seen[0].item(), "the gradient norm": grad_norm}, live)
        log.append({"step": step + 1, "loss": (seen[0] / seen[1]).item(), "tokens": round(seen[1].item() * world),
                    "seconds": time.perf_counter() - began})
        live.add(log[-1])
        if (step + 1) % settings["checkpoint_every"] == 0:
            trainer.save(checkpoint_dir, {"step": step + 1, "log": log})
            live.flush()
    live.close()
    return trainer, log
