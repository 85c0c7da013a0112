"""Run reconstructors on benchmark data, persisting each finished method so a run can resume.

For each data level (one per dose of a sweep) and each method, every sample
is reconstructed in batches and scored (:mod:`recon.benchmark.scoring`); the
per-image rows and the first few reconstructions are then written under
``OUTPUT/parts/`` atomically. A later run with the same output folder reuses
every part whose key (data, method, sample count, metric set, batch size,
examples) matches, so an interrupted run recomputes only unfinished methods.

Each data level also gets a reference row, :data:`REFERENCE`: the ground
truths scored like reconstructions. Its data consistency is the floor that
the noise and the simulation's model error (LoDoPaB's finer simulation grid)
set for these data, the value a reconstruction "at the noise level" reaches.
"""

from __future__ import annotations

import functools
import hashlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from recon.benchmark.data import BenchmarkData
from recon.benchmark.files import file_slug, read_part, write_array, write_json
from recon.benchmark.methods import Method
from recon.benchmark.scoring import METRICS, score
from recon.checks import check_finite
from recon.operators import RayTransform

__all__ = ["REAL_CT_GROUPS", "REFERENCE", "MethodError", "MethodResult", "RunConfig", "example_indices", "part_paths",
           "run_benchmark"]

#: Name of the reference row: the ground truths scored as if they were reconstructions.
REFERENCE = "ground truth"

#: Groups of real CT slices (:mod:`recon.data.anatomy`), shown first among the examples.
REAL_CT_GROUPS = ("anatomy",)


def example_indices(groups: Sequence[str] | None, count: int, num_samples: int, *,
                    first: Sequence[str] = REAL_CT_GROUPS) -> tuple[int, ...]:
    """The samples whose reconstructions a benchmark keeps for its figure.

    One sample of each group is taken before any group gets a second: the
    first sample of a group of ``first`` (real CT), then the first of every
    other group in order of appearance, then the remaining samples in order.
    So a figure of three examples of the built-in data (ellipses,
    Shepp-Logan, FORBILD and real CT slices in turn) shows a real CT slice.

    Parameters
    ----------
    groups : sequence of str or None
        A group label per sample (None: no labels, the first samples).
    count : int
        Number of examples.
    num_samples : int
        Number of samples.
    first : sequence of str
        Groups preferred to the others.

    Returns
    -------
    tuple of int
        ``min(count, num_samples)`` sample indices in increasing order.

    Examples
    --------
    >>> example_indices(["ellipses", "shepp-logan", "forbild", "anatomy"] * 2, 3, 8)
    (0, 1, 3)
    >>> example_indices(None, 3, 8)
    (0, 1, 2)
    """
    count = max(0, min(count, num_samples))
    if not groups:
        return tuple(range(count))
    leaders: dict[str, int] = {}  # group -> its first sample, in order of appearance
    for index, group in enumerate(groups):
        leaders.setdefault(group, index)
    preferred = [index for group, index in leaders.items() if group in first]
    others = [index for group, index in leaders.items() if group not in first]
    chosen = dict.fromkeys([*preferred, *others, *range(num_samples)])
    return tuple(sorted(list(chosen)[:count]))


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How a benchmark runs.

    Parameters
    ----------
    output : path-like
        Folder of the results (created); ``parts/`` in it holds finished methods.
    batch_size : int
        Sinograms reconstructed per call. A call is timed as a whole: the
        seconds of each image are the wall-clock time of its call divided by
        the number of images in it (data loading and scoring excluded), after
        one untimed warm-up call on the first sample (operator norms, filters
        and sparse matrices are built then). The images of a call share one
        time, so their spread says nothing; reports give the mean only.
    examples : int
        Reconstructions kept for the figure: a sample of each group, real CT
        slices first (:func:`example_indices`), else the first samples.
    resume : bool
        Reuse finished methods found in ``output``; False recomputes all.
    progress : bool
        Show a progress bar on stderr.
    roi : Tensor of bool, shape (nx, ny), optional
        Region of interest of the ``hu_error`` and ``hu_noise`` scores, the
        same for every image; default the soft tissue of each ground truth
        (:func:`recon.metrics.soft_tissue_roi`).
    """

    output: Path
    batch_size: int = 8
    examples: int = 3
    resume: bool = True
    progress: bool = True
    roi: Tensor | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))  # a str works as well
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {self.batch_size}")
        if self.examples < 0:
            raise ValueError(f"examples: expected >= 0, got {self.examples}")
        if self.roi is not None and (not isinstance(self.roi, Tensor) or self.roi.dtype != torch.bool
                                     or self.roi.dim() != 2):
            raise ValueError(f"roi: expected a boolean tensor of shape (nx, ny), got "
                             f"{getattr(self.roi, 'dtype', type(self.roi).__name__)} of shape "
                             f"{tuple(getattr(self.roi, 'shape', ()))}")

    def roi_key(self) -> str:
        """Identifies the region of interest in resume keys: ``"soft tissue"`` or a hash of the mask."""
        if self.roi is None:
            return "soft tissue"
        mask = self.roi.cpu().numpy()
        return f"mask {mask.shape}:{hashlib.sha1(mask.tobytes()).hexdigest()[:16]}"


@dataclass(frozen=True)
class MethodResult:
    """The scores of one method on one data level.

    Attributes
    ----------
    data : BenchmarkData
    method : str
        The method's name, or :data:`REFERENCE`.
    rows : list of dict
        One per image: ``index``, ``group``, ``psnr`` (dB), ``ssim``,
        ``data_consistency``, ``hu_error`` and ``hu_noise`` (HU; NaN where the
        image's region of interest is empty) and ``seconds`` (the time of the
        image's batch divided by its size, see :class:`RunConfig`).
    examples : numpy.ndarray, shape (K, nx, ny)
        Reconstructions of the samples ``example_indices``.
    reused : bool
        Read from a previous run rather than computed.
    example_indices : tuple of int
        The samples of ``examples`` (:func:`example_indices`).
    """

    data: BenchmarkData
    method: str
    rows: list[dict[str, Any]]
    examples: np.ndarray
    reused: bool
    example_indices: tuple[int, ...] = ()


def part_paths(output: Path, data: BenchmarkData, name: str) -> tuple[Path, Path]:
    """``(rows .json, examples .npy)`` of one finished method (or of the reference) on one data level."""
    folder = Path(output) / "parts" / file_slug(data.key)
    stem = file_slug(name)
    return folder / f"{stem}.json", folder / f"{stem}.npy"


def _load_part(rows_path: Path, examples_path: Path, key: dict[str, Any]) -> tuple[list, np.ndarray] | None:
    """The stored rows and examples if both exist and were computed under ``key``."""
    stored = read_part(rows_path, key) if examples_path.is_file() else None
    if stored is None:
        return None
    try:
        return stored["rows"], np.load(examples_path)
    except (ValueError, KeyError, OSError):
        return None  # a damaged part is recomputed


class MethodError(ValueError):
    """A benchmarked method raised; the message names it, the data and the samples."""


def _sinogram_only(reconstruct: Callable[[Tensor], Tensor], sinograms: Tensor, images: Tensor) -> Tensor:
    return reconstruct(sinograms)


def _ground_truth(sinograms: Tensor, images: Tensor) -> Tensor:
    return images


def _evaluate(data: BenchmarkData, name: str, reconstruct: Callable[[Tensor, Tensor], Tensor],
              operator: RayTransform, config: RunConfig, progress, *, timed: bool, kept: tuple[int, ...]
              ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Rows of ``reconstruct(sinograms, images)`` on every sample of ``data``, examples of the ``kept``."""
    expected = (1, *data.geometry.image_shape)

    def named(sinograms: Tensor, images: Tensor, first: int) -> Tensor:
        try:
            return reconstruct(sinograms, images)
        except Exception as error:  # a method's own failure, named (a user's custom method above all)
            message = " ".join(str(error).split()) or "no message"
            raise MethodError(f"{name}: failed on {data.name}, samples {first} to {first + len(sinograms) - 1}: "
                              f"{type(error).__name__}: {message}; the other methods' finished results are kept "
                              "(rerun without it to reuse them)") from error

    if timed:
        first_sinogram, first_image = data.samples[0]
        named(first_sinogram[None], first_image[None], 0)  # warm-up (operator norms, caches), not timed
    rows, examples, broken = [], [], 0
    loader = DataLoader(data.samples, batch_size=config.batch_size, shuffle=False)
    for sinograms, images in loader:
        for what, values in (("sinograms", sinograms), ("images", images)):
            check_finite(values, f"{data.name}: {what}", first_index=len(rows))
        start = time.perf_counter()
        reconstructions = named(sinograms, images, len(rows))
        seconds = (time.perf_counter() - start) / len(sinograms) if timed else math.nan
        if tuple(reconstructions.shape) != (len(sinograms), *expected):
            raise ValueError(f"{name}: expected reconstructions of shape {(len(sinograms), *expected)}, "
                             f"got {tuple(reconstructions.shape)}")
        reconstructions = reconstructions.detach().float().cpu()
        broken += int((~torch.isfinite(reconstructions.flatten(1))).any(dim=1).sum())
        scores = score(reconstructions, images, sinograms, operator, photons=data.photons, mu_max=data.mu_max,
                       roi=config.roi)
        for b in range(len(sinograms)):
            index = len(rows)
            rows.append({"index": index, "group": data.groups[index] if data.groups else "",
                         **{metric: float(values[b]) for metric, values in scores.items()}, "seconds": seconds})
            if index in kept:
                examples.append(reconstructions[b, 0].numpy())
        progress(len(sinograms))
    if broken:  # kept, counted in the tables' "(k of n)"; said here in one line
        print(f"{name}: {broken} of {len(rows)} reconstructions of {data.name} hold NaN or inf; their scores are "
              "left out of the means", file=sys.stderr)
    return rows, np.stack(examples) if examples else np.zeros((0, *data.geometry.image_shape), np.float32)


def run_benchmark(levels: Sequence[BenchmarkData], methods: Sequence[Method], config: RunConfig
                  ) -> list[MethodResult]:
    """Reconstruct and score every data level with every method, resuming finished ones.

    Parameters
    ----------
    levels : sequence of BenchmarkData
        Data on one geometry (e.g. the doses of a sweep).
    methods : sequence of Method
        Reconstructors on that geometry.
    config : RunConfig

    Returns
    -------
    list of MethodResult
        Level-major; per level first the :data:`REFERENCE` (the ground truths
        scored as reconstructions: PSNR inf, SSIM 1, and the data consistency
        that noise and the simulation's model error allow; seconds NaN; its
        examples are the ground truths), then the methods in the given order.

    Raises
    ------
    ValueError
        No data, no methods, a method name given twice, levels on different
        geometries, a region of interest of another image shape, or NaN / inf
        in the data (found while scoring the reference, before any file is
        written for that level).
    """
    from tqdm import tqdm

    if not levels:
        raise ValueError("data: expected at least one dataset, got none")
    names = [method.name for method in methods]
    if not names:
        raise ValueError("methods: expected at least one method, got none")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"methods: each method once, got {repeated} more than once")
    if REFERENCE in names:
        raise ValueError(f"methods: the name {REFERENCE!r} is reserved for the reference row")
    geometries = {level.geometry for level in levels}
    if len(geometries) > 1:
        raise ValueError(f"data: expected one geometry for all levels, got {len(geometries)}")
    image_shape = levels[0].geometry.image_shape
    if config.roi is not None and tuple(config.roi.shape) != image_shape:
        raise ValueError(f"roi: expected the image shape {image_shape}, got {tuple(config.roi.shape)}")
    operator = RayTransform(levels[0].geometry)  # the output folder is made with the first finished part
    results = []
    entries = [(REFERENCE, "reference", _ground_truth, False)] + [
        (method.name, method.key, functools.partial(_sinogram_only, method.reconstruct), True) for method in methods]
    total = sum(len(level) for level in levels) * len(entries)
    with torch.no_grad(), tqdm(total=total, unit="image", disable=not config.progress, file=sys.stderr) as bar:
        for level in levels:
            kept = example_indices(level.groups, config.examples, len(level))
            for name, method_key, reconstruct, timed in entries:
                bar.set_description(f"{level.name} | {name}")
                rows_path, examples_path = part_paths(config.output, level, name)
                key = {"data": level.key, "method": method_key, "samples": len(level), "metrics": list(METRICS),
                       "batch_size": config.batch_size, "examples": list(kept), "roi": config.roi_key()}
                stored = _load_part(rows_path, examples_path, key) if config.resume else None
                if stored is not None:
                    bar.update(len(level))
                    results.append(MethodResult(level, name, *stored, reused=True, example_indices=kept))
                    continue
                rows, examples = _evaluate(level, name, reconstruct, operator, config, bar.update, timed=timed,
                                           kept=kept)
                rows_path.parent.mkdir(parents=True, exist_ok=True)
                write_array(examples_path, examples)
                write_json(rows_path, {"key": key, "rows": rows})  # written last: marks the part complete
                results.append(MethodResult(level, name, rows, examples, reused=False, example_indices=kept))
    return results
