"""The trainers one training loop runs on: plain torch (one process, AdamW) or a DeepSpeed engine
(under torchrun, WORLD_SIZE set; ZeRO from the config), each saving and resuming its checkpoints
(only a run with the same fingerprint resumes one: more_lib.reward.checkpoint)."""

import contextlib
import copy
import os
import shutil
from pathlib import Path

import torch

from more_lib.core import device, io
from more_lib.reward import checkpoint


def rank_and_world():
    """This process's rank and the number of processes (torchrun/deepspeed set both)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))



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
    fingerprint, more_lib.reward.checkpoint) and it loads, else a fresh start in an emptied folder. Restored tensors are
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
