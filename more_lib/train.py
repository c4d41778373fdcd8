"""Reward-model training: one loop for Single, MultiTask and MORE, plain torch or DeepSpeed.

Launched by `python`, the loop runs in one process with torch's AdamW. Launched by
`torchrun`/`deepspeed` (WORLD_SIZE set), the same loop runs through a DeepSpeed engine: each rank
takes its share of every source's pairs, DeepSpeed averages the gradients, and MORE all-reduces
the K head gradients before solving for λ so every rank uses the same weights.
"""

import contextlib
import copy
import math
import os
import shutil
import time
from pathlib import Path

import torch

from more_lib import checkpoint, device, io, models, policy, progress, weighting
from more_lib.errors import ConfigError
from more_lib.seeding import rng_for


def rank_and_world():
    """This process's rank and the number of processes (torchrun/deepspeed set both)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def step_plan(num_pairs, pairs_per_source, seed, sources):
    """For each step, the indices of each source's pairs: one epoch, b pairs per source a step."""
    orders = [rng_for(seed, "order", name).permutation(n) for name, n in zip(sources, num_pairs)]
    steps = min(num_pairs) // pairs_per_source
    return [[order[s * pairs_per_source:(s + 1) * pairs_per_source] for order in orders] for s in range(steps)]


def encode_step(tokenizer, records_by_source, indices, max_length, rank=0, world=1, packed=False):
    """This rank's pairs as one batch (models.encode_texts, padded or packed): chosen texts first,
    then rejected; and `source`, each pair's source."""
    pairs = [(k, records[i]) for k, (records, idx) in enumerate(zip(records_by_source, indices))
             for i in idx[rank::world]]
    texts = [r["prompt"] + r[side] for side in ("chosen", "rejected") for _, r in pairs]
    return {**models.encode_texts(tokenizer, texts, max_length, packed), "source": torch.tensor([k for k, _ in pairs])}


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


class _Plain:
    """The optimiser interface the loop needs, for a single process."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def precision(self):
        """fp32 weights, bf16 compute on a GPU (autocast); plain fp32 on the CPU."""
        return device.autocast()

    def backward_and_step(self, loss):
        """Returns the gradient's norm."""
        loss.backward()
        norm = torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm.item()

    def save(self, directory, client_state):
        io.atomic_torch_save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                              **client_state}, directory / "state.pt")

    def load(self, directory):
        # onto the model's device, whichever device saved it (the optimizer's state follows its parameters)
        state = checkpoint.load(directory / "state.pt", weights_only=False, map_location=self.model.device)
        self.model.load_state_dict(state.pop("model"))
        self.optimizer.load_state_dict(state.pop("optimizer"))
        return state

    def state_dict_for_export(self):
        return self.model.state_dict()


class _DeepSpeed:
    def __init__(self, engine):
        self.engine = engine
        self.model = engine

    def precision(self):
        """The engine already computes in its configured precision (bf16 weights, fp32 master copy)."""
        return contextlib.nullcontext()

    def backward_and_step(self, loss):
        """Returns the gradient's norm over all ranks as ZeRO computes it (inf for a step it skipped on
        an overflow), or None without ZeRO."""
        self.engine.backward(loss)
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return None if norm is None else float(norm)

    def save(self, directory, client_state):
        """One tag per step, named in the file `latest` once every rank has written its part, so a run
        killed mid-save resumes from the step before; older tags are then removed. DeepSpeed's own
        `latest` is written by rank 0 before the closing barrier, while other ranks may still be writing
        their ZeRO shards: a job preempted then left a `latest` naming a cut tag (the scancel test)."""
        tag = f"step{client_state['step']}"
        self.engine.save_checkpoint(str(directory), tag=tag, client_state=client_state, save_latest=False)
        _barrier()
        if rank_and_world()[0] == 0:
            with io.atomic_path(Path(directory) / "latest") as tmp:
                tmp.write_text(tag)
            for old in Path(directory).glob("step*"):
                if old.name != tag:
                    shutil.rmtree(old)

    def load(self, directory):
        """The engine restores the model and optimizer states where ZeRO keeps them (the GPU, or the CPU
        under offload); the client state comes back on the CPU (DeepSpeed's map_location): `resume`
        moves it to the model's device. Every file of the tag the file `latest` names is opened first
        (memory-mapped, so no tensor is read): the engine would fail on a cut one after restoring the
        model, and every rank sees the same files, so all ranks discard the checkpoint or none."""
        tag = (Path(directory) / "latest").read_text().strip()
        files = sorted((Path(directory) / tag).glob("*.pt")) if tag else []
        if not files:
            raise checkpoint.Unreadable(f"{Path(directory) / 'latest'} names {tag!r}, a tag with no checkpoint files")
        for path in files:
            checkpoint.load(path, weights_only=False, map_location="cpu", mmap=True)
        _, client_state = self.engine.load_checkpoint(str(directory), tag=tag)
        return client_state

    def state_dict_for_export(self):
        if self.engine.zero_optimization_stage() == 3:
            return self.engine._zero3_consolidated_16bit_state_dict()
        return self.engine.module.state_dict()


def _barrier():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _follow(model, state):
    """Every tensor of a restored state (MORE's momentum, say) on the model's device: the next step
    combines it with gradients there."""
    if isinstance(state, torch.Tensor):
        return state.to(model.device)
    if isinstance(state, dict):
        return {key: _follow(model, value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_follow(model, value) for value in state)
    return state


def resume(trainer, checkpoint_dir, extra, fingerprint):
    """(first step, log so far, *extra state) from the last checkpoint if the same run made it (its
    fingerprint, more_lib.checkpoint) and it loads, else a fresh start in an emptied folder. Restored tensors are
    on the model's device, whichever device saved or loaded them. (No RNG state is saved: the step
    plan derives from the seed, and the models train without dropout.)"""
    state = {"step": 0, "log": [], **extra}
    has_state = (checkpoint_dir / ("latest" if "WORLD_SIZE" in os.environ else "state.pt")).is_file()
    ok, why = checkpoint.resumable(checkpoint_dir, fingerprint, has_state)
    if ok:
        try:
            state = _follow(trainer.model, trainer.load(checkpoint_dir))
        except checkpoint.Unreadable as err:  # a rerun would meet it again: only a fresh start gets past it
            ok, why = False, str(err)
    primary = rank_and_world()[0] == 0
    if why and primary:
        print(f"discarding the checkpoint in {checkpoint_dir}, {why}", flush=True)
    _barrier()  # every rank has decided before rank 0 empties the folder
    if ok:
        print(f"resumed from the checkpoint at step {state['step']}", flush=True)
    elif primary:
        checkpoint.start_afresh(checkpoint_dir, fingerprint)
    _barrier()
    return state["step"], state["log"], *(state[key] for key in extra)


def make_trainer(model, settings, num_pairs_per_rank):
    """The plain trainer in one process (the model placed on the job's device in fp32), a DeepSpeed
    engine under torchrun (WORLD_SIZE set) with the ZeRO config `settings["deepspeed"]` (a path, or
    the config itself), bf16 on a GPU. A config that names an optimizer gets DeepSpeed's own (CPU
    Adam under ZeRO-Offload, as the paper's code); otherwise torch's AdamW."""
    model = device.place(model, training=True)
    if "WORLD_SIZE" not in os.environ:
        return _Plain(model, _adamw(model, settings))
    import deepspeed

    if not device.on_gpu():
        # DeepSpeed JIT-compiles a shared-memory all-reduce for CPU inference when it starts. Training never uses it,
        # the compile takes minutes on a fresh machine, and one killed midway leaves a lock later runs wait on forever.
        from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder

        deepspeed.ops.__compatible_ops__[ShareMemCommBuilder.NAME] = False
    deepspeed.init_distributed(dist_backend="nccl" if device.on_gpu() else "gloo")
    ds_config = settings["deepspeed"]
    ds_config = copy.deepcopy(ds_config) if isinstance(ds_config, dict) else io.read_json(ds_config)
    ds_config.update(train_micro_batch_size_per_gpu=num_pairs_per_rank, gradient_accumulation_steps=1)
    ds_config.setdefault("bf16", {})["enabled"] = device.on_gpu() and ds_config["bf16"].get("enabled", True)
    if "optimizer" in ds_config:
        ds_config["optimizer"].setdefault("params", {}).update(lr=settings["lr"], weight_decay=settings["weight_decay"])
        engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=ds_config)
    else:
        engine, *_ = deepspeed.initialize(model=model, optimizer=_adamw(model, settings), config=ds_config)
    return _DeepSpeed(engine)


def _adamw(model, settings):
    return torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])


def live_view(live_dir, log, plan, max_steps, settings, desc):
    """The run's progress bar and (given `live_dir`) its live train_log.csv and TensorBoard files."""
    total = min(len(plan), max_steps or len(plan))
    return progress.Live(live_dir, log, total, settings["log_every"], desc, primary=rank_and_world()[0] == 0)


def train_reward_model(model, tokenizer, records_by_source, scheme, settings, seed, checkpoint_dir, max_steps=None, *,
                       fingerprint, live_dir=None):
    """Train `model` in place; return the log rows (one per step) for rank 0 to write. Rank 0 also
    writes them into `live_dir` as training goes (more_lib.progress)."""
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
                                                             settings.get("packed", False)))
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
        batch = policy.collate(tokenizer, [examples[i] for i in plan[step][rank::world]])
        with trainer.precision():
            nll, tokens = policy.token_losses(trainer.model, *device.inputs_for(trainer.model, batch))
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
