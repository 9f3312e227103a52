"""The training loop behind ``spirograph-train``: on-the-fly views, LARS + schedule, checkpoints, DDP."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from spirograph import FactorSpace, Generator, _signals
from spirograph.seeding import stream_key

from .checkpoint import CHECKPOINT_FILE, METHOD_REPORT_FILE, RESULT_FILE, VALIDATION_FILE, RunDir, TrainingError, atomic_write_text
from .config import TrainConfig
from .encoders import build_encoder
from .methods import Method, MethodConfig, StepContext, get_method
from .optim import build_optimizer, build_schedule
from .rescore import flatten, run_disclosures  # noqa: F401  (flatten: re-exported)

TRAIN_STREAM = "baselines/train"


def derived_seed(seed: int, purpose: str, index: int = 0) -> int:
    """A 63-bit seed for one purpose (batch order of an epoch, a rank's view draws) from the run seed."""
    return int(stream_key(seed, purpose, str(index))) & ((1 << 63) - 1)


def build_model(
    method_name: str, method_config: MethodConfig, train_config: TrainConfig, *, seed: int, space: FactorSpace | None = None
) -> Method:
    """Encoder + method with parameters initialised from ``seed`` (the global RNG state is restored).

    ``space``: the factor space of the training views (default ``FactorSpace()``), which sizes the method's heads.
    """
    method_cls = get_method(method_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "baselines/init"))
        encoder = build_encoder(train_config.encoder, **train_config.encoder_kwargs)
        return method_cls(encoder, method_config, n_items=train_config.n_contents, space=space)


class Trainer:
    """One training run on one rank.

    Args:
        method_name, method_config, train_config: what to train and how.
        seed: run seed (initialisation, batch order, nuisance draws, method draws).
        device: training device of this rank.
        run_dir: where config, checkpoints, metrics and results live.
        rank, world_size: position in the process group.
        progress: show a progress bar on rank 0.
    """

    def __init__(
        self,
        *,
        method_name: str,
        method_config: MethodConfig,
        train_config: TrainConfig,
        seed: int,
        device: torch.device,
        run_dir: RunDir,
        rank: int = 0,
        world_size: int = 1,
        progress: bool = True,
    ) -> None:
        train_config.check_world_size(world_size)
        self.cfg = train_config
        self.seed = seed
        self.device = device
        self.run_dir = run_dir
        self.rank, self.world_size = rank, world_size
        self.progress = progress and rank == 0
        # The generator of the run config (a run record without one is Spirograph's); heads are sized from its space.
        self.spirograph = Generator(train_config.generator, device=device, **train_config.render_options())
        self.contents = self.spirograph.sample_content(train_config.n_contents, seed=train_config.data_seed, stream=TRAIN_STREAM)
        self.method = build_model(method_name, method_config, train_config, seed=seed, space=self.spirograph.space).to(device)
        self.model: nn.Module = self.method
        if world_size > 1:
            if device.type == "cuda":
                self.method = nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
            self.model = nn.parallel.DistributedDataParallel(self.method, device_ids=[device] if device.type == "cuda" else None)
        self.optimizer = build_optimizer(
            train_config.optimizer,
            self.method.parameters(),
            lr=train_config.lr,
            momentum=train_config.momentum,
            weight_decay=train_config.weight_decay,
            trust_coefficient=train_config.trust_coefficient,
        )
        warmup, total = train_config.schedule_units()
        self.scheduler = build_schedule(train_config.lr_schedule, self.optimizer, warmup=warmup, total=total)
        self.view_generator = torch.Generator(device=device).manual_seed(derived_seed(seed, "baselines/views", rank))
        self.method_generator = torch.Generator(device=device).manual_seed(derived_seed(seed, "baselines/method", rank))
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoint on disk, if any
        # Sums of the step logs since the last metrics line, and their count: checkpointed, so a run
        # resumed between two log lines writes the same means as an uninterrupted one.
        self.window: dict[str, Any] = {"sums": {}, "count": 0}
        self._order: tuple[int, torch.Tensor] | None = None

    # -- state -----------------------------------------------------------------------------
    def _generator_states(self) -> list[dict[str, torch.Tensor]]:
        mine = {"views": self.view_generator.get_state(), "method": self.method_generator.get_state()}
        if self.world_size == 1:
            return [mine]
        states: list[Any] = [None] * self.world_size
        dist.all_gather_object(states, mine)
        return states

    def save_checkpoint(self) -> None:
        """Write the full state after ``self.step`` steps (all ranks must call; rank 0 writes)."""
        generators = self._generator_states()
        if self.rank != 0:
            return
        self.run_dir.save_checkpoint(
            {
                "step": self.step,
                "record": self.run_dir.read_config(),
                "model": self.method.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "generators": generators,
                "window": self.window,
            }
        )
        self.saved_step = self.step

    def load_checkpoint(self) -> None:
        """Restore the state of the run directory's checkpoint.

        Raises:
            ValueError: corrupted checkpoint, or one written by a different number of processes.
        """
        state = self.run_dir.load_checkpoint()
        if len(state["generators"]) != self.world_size:
            raise ValueError(f"checkpoint={self.run_dir.file('checkpoint.pt')}: written by {len(state['generators'])} processes, resumed with {self.world_size}")
        try:
            self.method.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            mine = state["generators"][self.rank]
            self.view_generator.set_state(mine["views"])
            self.method_generator.set_state(mine["method"])
            # Checkpoints written before the window was saved resume with an empty one.
            window = state.get("window", {"sums": {}, "count": 0})
            self.window = {"sums": {str(k): float(v) for k, v in window["sums"].items()}, "count": int(window["count"])}
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"checkpoint={self.run_dir.file('checkpoint.pt')}: does not fit this run ({err})") from None
        self.step = int(state["step"])
        self.saved_step = self.step
        if self.rank == 0:
            self.run_dir.truncate_metrics(self.step)

    def resume(self) -> bool:
        """Continue from the run directory's checkpoint; without one (a run stopped before its first), start at step 0.

        Returns:
            Whether a checkpoint was loaded.
        """
        if self.run_dir.file(CHECKPOINT_FILE).exists():
            self.load_checkpoint()
            return True
        if self.rank == 0:
            self.run_dir.truncate_metrics(0)
        return False

    # -- data ------------------------------------------------------------------------------
    def batch_indices(self, step: int) -> torch.Tensor:
        """This rank's shard of the global batch of ``step`` (int64 indices into the training contents)."""
        cfg = self.cfg
        epoch, position = divmod(step, cfg.steps_per_epoch)
        if self._order is None or self._order[0] != epoch:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, "baselines/order", epoch))
            self._order = (epoch, torch.randperm(cfg.n_contents, generator=generator))
        batch = self._order[1][position * cfg.batch_size : (position + 1) * cfg.batch_size]
        # Without drop_last the epoch's last batch is shorter; it splits evenly (check_world_size).
        shard = batch.shape[0] // self.world_size
        return batch[self.rank * shard : (self.rank + 1) * shard]

    def context(self, step: int) -> StepContext:
        """Render this rank's views for ``step`` and pack the step context."""
        indices = self.batch_indices(step)
        content = self.contents[indices.to(self.contents.device)]
        images, nuisance = self.spirograph.views(
            content, k=self.method.views_per_item, generator=self.view_generator, requires_grad=self.method.needs_nuisance_grad
        )
        return StepContext(
            images=images,
            nuisance=nuisance,
            content=content,
            indices=indices,
            step=step,
            total_steps=self.cfg.total_steps,
            epoch=step // self.cfg.steps_per_epoch,
            generator=self.method_generator,
            spirograph=self.spirograph,
            rank=self.rank,
            world_size=self.world_size,
        )

    # -- training --------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One optimiser step; returns the step's scalar logs (loss, method logs, lr)."""
        self.model.train()
        ctx = self.context(self.step)
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            outputs = self.model(ctx)
        loss = outputs["loss"]
        finite = torch.isfinite(loss.detach()).float()
        if self.world_size > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if finite.item() < 1:
            raise TrainingError(
                f"non-finite loss at step {self.step} (loss={loss.item()}); the last good checkpoint "
                f"{self.run_dir.file('checkpoint.pt')} is kept"
            )
        self.optimizer.zero_grad(set_to_none=True)
        # Gradients for the parameters only: a nuisance leaf that InvCLR's penalty differentiates is
        # data, and its gradient (second order through encoder and renderer) would be thrown away.
        torch.autograd.backward(loss, inputs=[p for p in self.model.parameters() if p.requires_grad])
        self.optimizer.step()
        self.method.after_step(ctx, outputs)
        self.step += 1
        if self.cfg.schedule_unit == "step" or self.step % self.cfg.steps_per_epoch == 0:
            self.scheduler.step()
        logs = {
            k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
            for k, v in outputs.items()
            if isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)
        }
        logs["lr"] = lr
        return logs

    def fit(self) -> None:
        """Train from ``self.step`` to the end, logging and checkpointing; checkpoint at the end."""
        cfg = self.cfg
        total = cfg.total_steps
        bar = tqdm(total=total, initial=self.step, disable=not self.progress, desc=f"train {self.method.name}", unit="step")
        timed, tick = 0, time.perf_counter()  # throughput counts only this process's steps
        while self.step < total:
            _signals.check()  # an interrupt Python could not deliver (inside a finalizer) stops the run here
            logs = self.train_step()
            sums = self.window["sums"]
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            self.window["count"] += 1
            timed += 1
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == total:
                elapsed = time.perf_counter() - tick
                count = self.window["count"]
                entry = {k: v / count for k, v in sums.items()}
                entry.update(step=self.step, epoch=(self.step - 1) // cfg.steps_per_epoch, lr=logs["lr"])
                entry["pairs_per_s"] = timed * cfg.batch_size / elapsed if elapsed > 0 else math.inf
                if self.rank == 0:
                    self.run_dir.append_metrics(entry)
                bar.set_postfix(loss=f"{entry['loss']:.4f}", refresh=False)
                self.window = {"sums": {}, "count": 0}
                timed, tick = 0, time.perf_counter()
            if self.step % cfg.checkpoint_every == 0 or self.step == total:
                self.save_checkpoint()
        bar.close()
        if self.rank == 0:
            self.run_dir.save_encoder(self.method.encoder.state_dict())
            report = self.method.final_report(self.spirograph)
            if report:
                atomic_write_text(self.run_dir.file(METHOD_REPORT_FILE), json.dumps(report, indent=2, sort_keys=True) + "\n")

    # -- evaluation ------------------------------------------------------------------------
    def frozen_encoder(self) -> nn.Module:
        """The trained encoder in eval mode (images (B, 3, R, R) → representations (B, d))."""
        return self.method.encoder.eval()

    def write_validation(self) -> dict[str, Any]:
        """Score the encoder on validation contents (never the test items) and write validation.json."""
        from .validation import validation_scores

        scores = validation_scores(self.frozen_encoder(), self.spirograph, seed=self.cfg.data_seed)
        atomic_write_text(self.run_dir.file(VALIDATION_FILE), json.dumps(scores, indent=2, sort_keys=True) + "\n")
        return scores

    def score(self, suite: str, *, name: str, command: str) -> Any:
        """Score the encoder with the harness and write result.json into the run directory."""
        import spirograph

        record = self.run_dir.read_config()
        disclosures = run_disclosures(record)
        result = spirograph.score(
            self.frozen_encoder(), suite=suite, generator=self.cfg.generator, device=str(self.device), name=name, disclosures=disclosures, command=command, progress=self.progress
        )
        result.save(self.run_dir.file(RESULT_FILE), overwrite=True)
        return result
