"""The figure of a benchmark: example reconstructions with their error maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recon.benchmark.runner import REFERENCE, MethodResult
from recon.metrics import psnr
from recon.plotting import save_figure, show_image

__all__ = ["example_figure"]


def example_figure(results: Sequence[MethodResult], path: Path, *, dpi: int = 110) -> Path | None:
    """A PNG grid of the stored examples of one data level, anatomy upright.

    For each example image two rows: the ground truth and every method's
    reconstruction (same grey scale, the ground truth's range, PSNR in the
    title), then the absolute error ``|x - gt|`` of each (one colour scale
    per example, 0 to the largest error of any method).

    Parameters
    ----------
    results : sequence of MethodResult
        Results of one data level: the reference (whose examples are the
        ground truths) and the methods.
    path : Path
        Output PNG (written atomically).

    Returns
    -------
    Path or None
        ``path``, or None when there are no examples to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    truths = next(result.examples for result in results if result.method == REFERENCE)
    results = [result for result in results if result.method != REFERENCE]
    count = min((len(result.examples) for result in results), default=0)
    if count == 0:
        return None
    columns = len(results) + 1
    figure, axes = plt.subplots(2 * count, columns, figsize=(2.2 * columns, 4.8 * count), squeeze=False,
                               layout="constrained")
    for i in range(count):
        truth = truths[i]
        low, high = float(truth.min()), float(truth.max())
        errors = [np.abs(result.examples[i] - truth) for result in results]
        error_max = max(float(error.max()) for error in errors) or 1.0
        show_image(axes[2 * i, 0], truth, title=f"ground truth #{i}", vmin=low, vmax=high)
        axes[2 * i + 1, 0].set_axis_off()
        for j, (result, error) in enumerate(zip(results, errors), start=1):
            value = float(psnr(torch.from_numpy(result.examples[i]), torch.from_numpy(truth)))
            show_image(axes[2 * i, j], result.examples[i], title=f"{result.method}\n{value:.1f} dB",
                       vmin=low, vmax=high)
            artist = show_image(axes[2 * i + 1, j], error, cmap="magma", vmin=0.0, vmax=error_max)
        figure.colorbar(artist, ax=list(axes[2 * i + 1, 1:]), fraction=0.02, label="|x - gt|")
    figure.suptitle(results[0].data.name)
    try:
        return save_figure(figure, path, dpi=dpi)
    finally:
        plt.close(figure)
