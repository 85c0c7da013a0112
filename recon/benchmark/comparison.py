"""Paired comparisons of two methods on the same images, with percentile-bootstrap confidence intervals.

Both methods reconstruct the same test images, so each image gives one
difference of PSNR (dB) and one of SSIM; the mean difference estimates how
much better one method is, and the spread of the mean over bootstrap
resamples of the images (drawn with replacement, seeded) gives its
confidence interval. The verdict is ``"better"`` when the interval lies above
0, ``"worse"`` when it lies below and ``"tie"`` when it holds 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from recon.benchmark.runner import MethodResult
from recon.benchmark.scoring import METRIC_TABLE

__all__ = ["Bootstrap", "Interval", "Verdict", "bootstrap_interval", "comparisons_markdown", "group_names",
           "paired_comparison", "paired_differences"]

Verdict = Literal["better", "tie", "worse"]
#: The paired metrics and their table headings (:data:`~recon.benchmark.scoring.METRIC_TABLE`'s ``paired_heading``).
PAIRED_METRICS = {name: metric.paired_heading for name, metric in METRIC_TABLE.items() if metric.paired_heading}
_DIGITS = {name: METRIC_TABLE[name].digits for name in PAIRED_METRICS}


@dataclass(frozen=True, kw_only=True)
class Bootstrap:
    """Settings of the percentile bootstrap.

    Parameters
    ----------
    resamples : int
        Bootstrap resamples of the images (>= 100).
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling: the same seed gives the same intervals, to the bit.
    """

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise ValueError(f"bootstrap resamples: expected at least 100, got {self.resamples}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"bootstrap confidence: expected a value in (0, 1), got {self.confidence}")


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A mean and its bootstrap confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float

    @property
    def verdict(self) -> Verdict:
        """``"better"`` if the interval lies above 0, ``"worse"`` if below, else ``"tie"``."""
        return "better" if self.low > 0 else "worse" if self.high < 0 else "tie"

    def to_dict(self) -> dict[str, Any]:
        """``mean``, ``low``, ``high`` and ``verdict`` as JSON values."""
        return {**asdict(self), "verdict": self.verdict}


def bootstrap_interval(values: Sequence[float] | np.ndarray, settings: Bootstrap) -> Interval:
    """Mean of ``values`` with its percentile-bootstrap confidence interval.

    Parameters
    ----------
    values : sequence of float, shape (n,)
        One value per image, e.g. per-image PSNR differences (dB); n >= 1.
    settings : Bootstrap

    Returns
    -------
    Interval
        ``mean`` of the values; ``low``, ``high``: the ``(1 - confidence) / 2``
        and ``(1 + confidence) / 2`` quantiles (linear interpolation) of the
        means of ``settings.resamples`` resamples of the n values with
        replacement. One value gives the interval ``[v, v]``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"bootstrap: expected a non-empty 1D array of finite values, got shape "
                         f"{values.shape} with {int(np.sum(~np.isfinite(values)))} non-finite")
    rng = np.random.default_rng(settings.seed)
    means = values[rng.integers(0, len(values), size=(settings.resamples, len(values)))].mean(axis=1)
    tail = (1 - settings.confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(mean=float(values.mean()), low=float(low), high=float(high))


def group_names(result: MethodResult) -> list[str]:
    """``"all"`` and the group labels of a result's images, sorted."""
    return ["all", *sorted({row["group"] for row in result.rows if row["group"]})]


def paired_differences(first: MethodResult, second: MethodResult, metric: str, group: str = "all") -> np.ndarray:
    """Per-image ``first - second`` of one metric on the images of ``group`` (``"all"``: every image).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        In the images' order.
    """
    if [row["index"] for row in first.rows] != [row["index"] for row in second.rows]:
        raise ValueError(f"{first.method} and {second.method}: expected results on the same images")
    pairs = [(a[metric], b[metric]) for a, b in zip(first.rows, second.rows) if group in ("all", a["group"])]
    if not pairs:
        raise ValueError(f"group: expected 'all' or one of {group_names(first)[1:]}, got {group!r}")
    return np.array([a - b for a, b in pairs], dtype=np.float64)


def paired_comparison(first: MethodResult, second: MethodResult, group: str, settings: Bootstrap
                      ) -> dict[str, Any]:
    """Mean differences ``first - second`` of PSNR and SSIM on ``group`` with their intervals.

    Returns
    -------
    dict
        ``group``, ``n`` and per metric of :data:`PAIRED_METRICS`
        :meth:`Interval.to_dict` (``mean``, ``low``, ``high``, ``verdict``).
    """
    intervals = {metric: bootstrap_interval(paired_differences(first, second, metric, group), settings)
                 for metric in PAIRED_METRICS}
    count = len(paired_differences(first, second, "psnr", group))
    return {"group": group, "n": count, **{metric: interval.to_dict() for metric, interval in intervals.items()}}


def _interval_cell(entry: Mapping[str, Any], metric: str) -> str:
    digits = _DIGITS[metric]
    return f"{entry['mean']:+.{digits}f} [{entry['low']:+.{digits}f}, {entry['high']:+.{digits}f}]"


def comparisons_markdown(rows: Sequence[Mapping[str, Any]], confidence: float) -> str:
    """A Markdown table of comparison rows (``learned``, ``classical`` and :func:`paired_comparison`'s entries)."""
    percent = f"{100 * confidence:g} %"
    header = ["learned", "classical", "group", "n"]
    for heading in PAIRED_METRICS.values():
        header += [f"{heading} [{percent} CI]", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["learned"], row["classical"], row["group"], str(row["n"])]
        for metric in PAIRED_METRICS:
            cells += [_interval_cell(row[metric], metric), row[metric]["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
