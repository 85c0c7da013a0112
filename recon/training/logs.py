"""Training logs: per-step and per-epoch CSV files, and TensorBoard when it is installed."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CsvLog", "MetricsLog", "STEP_FIELDS", "EPOCH_FIELDS"]

STEP_FIELDS = ("epoch", "step", "loss", "learning_rate")
#: Supervised runs fill ``validation_psnr`` / ``validation_ssim``, self-supervised ones ``validation_loss``.
EPOCH_FIELDS = ("epoch", "step", "train_loss", "validation_psnr", "validation_ssim", "validation_loss", "seconds")


class CsvLog:
    """A CSV file written row by row (flushed at once).

    Parameters
    ----------
    path : pathlib.Path
    fields : sequence of str
        Column names.
    keep : callable, optional
        When resuming: rows of an existing file for which ``keep(row)`` is
        true are kept (rows past the resumed point are dropped); otherwise a
        new file is started.
    """

    def __init__(self, path: Path, fields: Sequence[str], *, keep: Callable[[dict[str, str]], bool] | None = None):
        rows: list[dict[str, str]] = []
        if keep is not None and path.exists():
            with open(path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if keep(row)]
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=list(fields))
        self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MetricsLog:
    """``steps.csv``, ``epochs.csv`` and, with ``tensorboard`` installed, TensorBoard events.

    Parameters
    ----------
    folder : pathlib.Path
    resume_step : int, optional
        Keep the rows up to this optimiser step from an earlier run.
    """

    def __init__(self, folder: Path, *, resume_step: int | None = None) -> None:
        keep = None if resume_step is None else (lambda row: int(row["step"]) <= resume_step)
        self.steps = CsvLog(folder / "steps.csv", STEP_FIELDS, keep=keep)
        self.epochs = CsvLog(folder / "epochs.csv", EPOCH_FIELDS, keep=keep)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.tensorboard = None
        else:
            self.tensorboard = SummaryWriter(str(folder / "tensorboard"), purge_step=resume_step)

    def step(self, row: dict[str, Any]) -> None:
        self.steps.write(row)
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("train/loss", row["loss"], row["step"])
            self.tensorboard.add_scalar("train/learning_rate", row["learning_rate"], row["step"])

    def epoch(self, row: dict[str, Any]) -> None:
        self.epochs.write(row)
        if self.tensorboard is not None:
            for key in ("train_loss", "validation_psnr", "validation_ssim", "validation_loss"):
                if key in row:
                    self.tensorboard.add_scalar(f"epoch/{key}", row[key], row["epoch"])

    def close(self) -> None:
        self.steps.close()
        self.epochs.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
