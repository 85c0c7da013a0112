"""Training of a reconstructor, supervised or self-supervised, single-process or distributed.

Adam with a cosine learning-rate schedule over all steps. Supervised: the
mean squared error or minus the mean PSNR against the ground truth
(:func:`~recon.training.losses.training_loss`), validation PSNR/SSIM, the best
checkpoint the one of the highest validation PSNR. Self-supervised
(``loss: noise2inverse | sure | ei``,
:func:`~recon.training.losses.self_supervised_loss`): the sinograms alone are
read (:class:`~recon.data.datasets.SinogramsOnly`), in training and in
validation, whose score is the same loss on the validation sinograms (fixed
random draws, lower is better); no image is read at any point. Validation
after every epoch, and in ``output_dir`` (written by rank 0 only):

``last.safetensors``, ``best.safetensors``
    Model checkpoints (:func:`~recon.training.checkpoint.save_model`) after
    the latest validation and the one of the best validation PSNR.
``state.pt``
    The training state after the latest epoch (and every ``state_every``
    steps, if set) -- weights, optimiser, scheduler, gradient scaler, the
    random generators, epoch and step -- read with
    ``torch.load(weights_only=True)``. ``resume=True`` continues from it
    exactly, inside an epoch too: the next steps give the same losses as a
    run that was never interrupted.
``steps.csv``, ``epochs.csv`` (and ``tensorboard/`` when installed)
    Loss per step; train loss, validation PSNR/SSIM (supervised) or
    validation loss (self-supervised) and time per validation: after every
    epoch, and every ``validate_every`` steps if set.

A non-finite loss (or gradient, without mixed precision) stops training
with :class:`TrainingDiverged`; the files of the last completed epoch stay
as they were.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, Subset
from torch.utils.data.distributed import DistributedSampler

from recon.files import output_folder
from recon.models import build_model
from recon.training.checkpoint import load_training_state, save_model, save_training_state
from recon.training.config import TrainingConfig
from recon.training.data import build_datasets
from recon.training.distributed import all_reduce_sum, setup_distributed, teardown_distributed, wrap_model
from recon.training.logs import MetricsLog
from recon.training.losses import SELF_SUPERVISED_LOSSES, self_supervised_loss, training_loss
from recon.training.seeding import rng_state, seed_everything, set_rng_state

__all__ = ["Trainer", "TrainingDiverged", "TrainingResult", "train", "STATE_FILE", "LAST_FILE", "BEST_FILE"]

STATE_FILE = "state.pt"
LAST_FILE = "last.safetensors"
BEST_FILE = "best.safetensors"
#: Config keys that may change when resuming (they do not affect the results).
_RESUMABLE_CHANGES = ("progress", "num_workers", "device", "output_dir", "state_every")
#: Entries of a training state and their types.
_STATE_ENTRIES = {"config": dict, "model": dict, "optimizer": dict, "scheduler": dict, "scaler": dict, "rng": dict,
                  "epoch": int, "step": int, "best_score": (int, float), "epoch_loss": (int, float),
                  "epoch_rng": dict}


class _SkippingSampler(Sampler[int]):
    """A sampler that leaves out the first ``skip`` indices of its base (to resume inside an epoch)."""

    def __init__(self, base: Sampler[int]) -> None:
        self.base = base
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.base), self.skip, None)

    def __len__(self) -> int:
        return len(self.base) - self.skip


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient) became NaN or infinite; training stopped."""


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run left behind.

    Attributes
    ----------
    epochs, steps : int
        Completed epochs and optimiser steps.
    best_score : float
        Best validation score: the mean PSNR (dB) of a supervised run, minus
        the mean validation loss of a self-supervised one.
    output_dir : pathlib.Path
    loss : str
        The training loss (``config.loss``).
    """

    epochs: int
    steps: int
    best_score: float
    output_dir: Path
    loss: str = "mse"

    @property
    def best_psnr(self) -> float:
        """Best mean validation PSNR, dB (NaN for a self-supervised run, which reads no image)."""
        return math.nan if self.loss in SELF_SUPERVISED_LOSSES else self.best_score

    def describe_best(self) -> str:
        """``"best validation PSNR 31.20 dB"`` or ``"best validation noise2inverse loss 1.2e-05"``."""
        if self.loss in SELF_SUPERVISED_LOSSES:
            return f"best validation {self.loss} loss {-self.best_score:.4g}"
        return f"best validation PSNR {self.best_score:.2f} dB"

    @property
    def best_checkpoint(self) -> Path:
        return self.output_dir / BEST_FILE

    @property
    def last_checkpoint(self) -> Path:
        return self.output_dir / LAST_FILE


class Trainer:
    """Train the model that a :class:`~recon.training.config.TrainingConfig` describes.

    Parameters
    ----------
    config : TrainingConfig
    resume : bool
        Continue from ``output_dir/state.pt`` (which must exist). Without it,
        an ``output_dir`` holding a training state is an error, never overwritten.

    Raises
    ------
    ValueError
        A training state that is not one of this run (missing entries,
        another config, weights of another shape).
    recon.files.FolderInUseError
        Another recon process is using ``output_dir`` (locked from here until
        :meth:`close`, by rank 0).

    Examples
    --------
    >>> config = load_config("experiments/lpd_small.yaml", ["epochs=1"])  # doctest: +SKIP
    >>> result = Trainer(config).fit()  # doctest: +SKIP
    """

    def __init__(self, config: TrainingConfig, *, resume: bool = False) -> None:
        self.config = config
        self.context = context = setup_distributed(config.device)
        self._output = contextlib.ExitStack()  # the lock of output_dir, held by rank 0 until close()
        try:
            self._build(resume)
        except BaseException as error:
            self._output.__exit__(type(error), error, error.__traceback__)
            teardown_distributed(context)
            raise

    # ------------------------------------------------------------------ setup
    def _build(self, resume: bool) -> None:
        config, context = self.config, self.context
        if config.batch_size % context.world_size:
            raise ValueError(f"batch_size: expected a multiple of the {context.world_size} processes, "
                             f"got {config.batch_size}")
        seed_everything(config.seed)
        data = build_datasets(config)
        self.physics = data.physics
        self.families = data.families
        self.model = build_model(config.model, geometry=data.geometry, cpu_backend=config.cpu_backend,
                                 cuda_backend=config.cuda_backend, **config.model_args).to(context.device)
        self.model.scale()  # ||A|| once, before the processes share their buffers
        self.self_supervised = config.loss in SELF_SUPERVISED_LOSSES
        if self.self_supervised and context.distributed:
            raise ValueError(f"loss: {config.loss} trains in one process (its extra forward passes bypass "
                             "DistributedDataParallel's gradient reduction); run it without torchrun")
        self.loss = self_supervised_loss(config.loss, self.model, **config.loss_args) if self.self_supervised \
            else None
        self.network = wrap_model(self.model, context)
        per_process = config.batch_size // context.world_size
        self.sampler = DistributedSampler(data.train, num_replicas=context.world_size, rank=context.rank,
                                          shuffle=True, seed=config.seed, drop_last=True)
        cuda = context.device.type == "cuda"
        self.batches = _SkippingSampler(self.sampler)
        self.loader = DataLoader(data.train, batch_size=per_process, sampler=self.batches, drop_last=True,
                                 num_workers=config.num_workers, pin_memory=cuda)
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0:
            raise ValueError(f"batch_size: {config.batch_size} is more than the {len(data.train)} training samples")
        shard = Subset(data.validation, range(context.rank, len(data.validation), context.world_size))
        self.validation_loader = DataLoader(shard, batch_size=per_process, num_workers=config.num_workers)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=config.epochs * self.steps_per_epoch, eta_min=config.min_learning_rate)
        # float16 would swamp SURE's small probe differences: self-supervised runs stay in float32
        self.mixed_precision = config.mixed_precision and cuda and not self.self_supervised
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.mixed_precision)
        self.epoch = 0
        self.step = 0
        self.best_score = -math.inf
        self.epoch_loss = 0.0  # sum of this epoch's step losses so far
        self.epoch_rng = rng_state()  # the generators when this epoch began
        self.output_dir = Path(config.output_dir)
        self.log = None
        if context.is_main:
            self._output.enter_context(output_folder(self.output_dir, what="a folder as output_dir"))
        state_path = self.output_dir / STATE_FILE
        if resume:
            self._restore(load_training_state(state_path), state_path)  # on the CPU, where the RNG states belong
        elif state_path.exists():
            raise FileExistsError(f"{self.output_dir}: holds a training run; resume it (--resume) "
                                  "or choose another output_dir")
        self._since = time.perf_counter()  # start of the time a validation row reports
        if context.is_main:
            self.log = MetricsLog(self.output_dir, resume_step=self.step if resume else None)

    def _state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "best_score": self.best_score,
            "epoch_loss": self.epoch_loss,
            "epoch_rng": self.epoch_rng,
        }

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        """Continue from ``state``, read from ``path``; ``ValueError`` naming ``path`` if it is not this run's."""
        if "best_psnr" in state and "best_score" not in state:  # states written before self-supervised runs
            state = {("best_score" if key == "best_psnr" else key): value for key, value in state.items()}
        missing = [key for key in _STATE_ENTRIES if key not in state]
        if missing:
            raise ValueError(f"{path}: expected a recon training state with the entries {list(_STATE_ENTRIES)}, "
                             f"got one without {missing}")
        wrong = [f"{key} ({type(state[key]).__name__})" for key, kind in _STATE_ENTRIES.items()
                 if not isinstance(state[key], kind)]
        if wrong:
            raise ValueError(f"{path}: expected a recon training state, got entries of the wrong type: "
                             f"{', '.join(wrong)}")
        saved, current = dict(state["config"]), self.config.to_dict()
        changed = sorted(key for key in current
                         if key not in _RESUMABLE_CHANGES and saved.get(key) != current[key])
        if changed:
            raise ValueError(f"{self.output_dir}: cannot resume with a different config; changed: {changed}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
        except (RuntimeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: expected the training state of this {self.config.model} run, got one that "
                             f"does not fit it: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
                             ) from None
        self.epoch, self.step, self.best_score = state["epoch"], state["step"], state["best_score"]
        self.epoch_loss, self.epoch_rng = state["epoch_loss"], state["epoch_rng"]

    # --------------------------------------------------------------- training
    def fit(self) -> TrainingResult:
        """Train until ``config.epochs`` epochs are complete.

        Raises
        ------
        TrainingDiverged
            On a non-finite loss; the checkpoints of the last epoch are kept.
        """
        try:
            while self.epoch < self.config.epochs:
                self._since = time.perf_counter()
                self._train_epoch()
                self.epoch += 1
                self._validate_and_save(self.epoch_loss / self.steps_per_epoch, epoch=self.epoch)
        finally:
            self.close()
        return TrainingResult(self.epoch, self.step, self.best_score, self.output_dir, self.config.loss)

    def _train_epoch(self) -> float:
        from tqdm.auto import tqdm

        self.network.train()
        self.sampler.set_epoch(self.epoch)
        done = self.step - self.epoch * self.steps_per_epoch  # batches of this epoch trained before a resume
        self.batches.skip = done * self.loader.batch_size
        if done:
            # The loader draws from the generators when it starts: replay that draw as it was.
            current = rng_state()
            set_rng_state(self.epoch_rng)
            batches = iter(self.loader)
            set_rng_state(current)
        else:
            self.epoch_loss, self.epoch_rng = 0.0, rng_state()
            batches = iter(self.loader)
        bar = tqdm(batches, total=self.steps_per_epoch, initial=done, leave=False,
                   desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
                   disable=not (self.config.progress and self.context.is_main))
        every, validate_every = self.config.state_every, self.config.validate_every
        for done, batch in enumerate(bar, start=done + 1):
            loss = self._step(*batch)
            self.epoch_loss += loss
            bar.set_postfix(loss=f"{loss:.4g}")
            if validate_every and self.step % validate_every == 0 and done < self.steps_per_epoch:
                self._validate_and_save(self.epoch_loss / done, epoch=self.epoch + 1)
            elif every and self.step % every == 0 and self.context.is_main:
                save_training_state(self._state(), self.output_dir / STATE_FILE)
        self.batches.skip = 0

    def _step(self, sinograms: Tensor, images: Tensor | None = None) -> float:
        """One optimiser step on a batch (images None when self-supervised); the loss averaged over processes."""
        loss = self._loss(sinograms, images)
        mean_loss = float(all_reduce_sum(loss.detach().clone(), self.context)) / self.context.world_size
        self._check_finite("loss", mean_loss)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        gradient_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                       self.config.grad_clip_norm or math.inf)
        if not self.mixed_precision:  # the gradient scaler skips non-finite steps itself
            self._check_finite("gradient norm", float(gradient_norm))
        learning_rate = self.scheduler.get_last_lr()[0]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        if self.log is not None:
            self.log.step({"epoch": self.epoch + 1, "step": self.step, "loss": mean_loss,
                           "learning_rate": learning_rate})
        return mean_loss

    def _check_finite(self, what: str, value: float) -> None:
        if math.isfinite(value):
            return
        last = self.output_dir / LAST_FILE
        kept = (f"the last good checkpoint is {last} (epoch {self.epoch})" if self.epoch
                else "no checkpoint was written (it diverged in the first epoch)")
        raise TrainingDiverged(
            f"training stopped: the {what} became {value} at epoch {self.epoch + 1}, step {self.step + 1}; "
            f"{kept}. Lower learning_rate or set grad_clip_norm and train again."
        )

    def _loss(self, sinograms: Tensor, images: Tensor | None, generator: torch.Generator | None = None) -> Tensor:
        """The training loss of a batch: self-supervised from ``sinograms`` alone, else against ``images``."""
        device = self.context.device
        sinograms = sinograms.to(device, non_blocking=True)
        if self.self_supervised:
            return self.loss(self.network, sinograms, generator)
        with torch.autocast(device.type, dtype=torch.float16, enabled=self.mixed_precision):
            output = self.network(sinograms)
        return training_loss(output, images.to(device, non_blocking=True), self.config.loss)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """The validation scores over the validation set (all processes together).

        Returns
        -------
        dict
            Supervised: ``{"validation_psnr": dB, "validation_ssim": ...}``, means over the images.
            Self-supervised: ``{"validation_loss": ...}``, the training loss's mean over the batches,
            its random draws seeded by ``config.seed`` (the same at every validation).
        """
        from recon.metrics import psnr, ssim

        self.model.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=self.context.device)
        generator = torch.Generator().manual_seed(self.config.seed)
        for batch in self.validation_loader:
            sinograms = batch[0].to(self.context.device)
            count = torch.tensor(len(sinograms), dtype=torch.float64, device=sums.device)
            if self.self_supervised:
                sums += torch.stack([self._loss(sinograms, None, generator).double() * count, count.new_zeros(()),
                                     count])
                continue
            images = batch[1].to(self.context.device)
            with torch.autocast(self.context.device.type, dtype=torch.float16, enabled=self.mixed_precision):
                output = self.model(sinograms)
            output = output.float()
            sums += torch.stack([psnr(output, images).sum(), ssim(output, images).sum(), count])
        all_reduce_sum(sums, self.context)
        self.model.train()
        count = max(float(sums[2]), 1.0)
        if self.self_supervised:
            return {"validation_loss": float(sums[0]) / count}
        return {"validation_psnr": float(sums[0]) / count, "validation_ssim": float(sums[1]) / count}

    def _validate_and_save(self, train_loss: float, *, epoch: int) -> None:
        """Validate, log a row (``epoch``: the epoch it belongs to, 1-based), write checkpoints and state."""
        scores = self.validate()
        row = {"epoch": epoch, "step": self.step, "train_loss": train_loss, **scores,
               "seconds": round(time.perf_counter() - self._since, 3)}
        self._since = time.perf_counter()
        score = -scores["validation_loss"] if self.self_supervised else scores["validation_psnr"]
        improved = score > self.best_score
        if improved:
            self.best_score = score
        if not self.context.is_main:
            return
        self.log.epoch(row)
        metadata = {"physics": self.physics, "families": self.families, "training": self.config.to_dict(),
                    "processes": self.context.world_size, "epoch": self.epoch, "step": self.step,
                    "validation": {key.removeprefix("validation_"): value for key, value in scores.items()}}
        save_model(self.model, self.output_dir / LAST_FILE, extra_metadata=metadata, overwrite=True)
        if improved:
            save_model(self.model, self.output_dir / BEST_FILE, extra_metadata=metadata, overwrite=True)
        save_training_state(self._state(), self.output_dir / STATE_FILE)

    def close(self) -> None:
        """Close the logs and leave the process group (if this trainer joined it)."""
        if self.log is not None:
            self.log.close()
            self.log = None
        self._output.close()
        teardown_distributed(self.context)


def train(config: TrainingConfig, *, resume: bool = False) -> TrainingResult:
    """``Trainer(config, resume=resume).fit()``."""
    return Trainer(config, resume=resume).fit()
