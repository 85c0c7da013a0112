"""The figure of a benchmark: example reconstructions in a CT window with their error maps in HU."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recon.benchmark.runner import REFERENCE, MethodResult
from recon.metrics import psnr
from recon.physics import normalized_to_hu
from recon.plotting import Window, ct_window, save_figure, show_ct, show_image

__all__ = ["ERROR_PERCENTILE", "example_figure"]

#: The error maps' colour scale ends at this percentile of the example's errors (all methods):
#: the few pixels at bone edges saturate instead of making soft-tissue errors invisible.
ERROR_PERCENTILE = 99.0


def example_figure(results: Sequence[MethodResult], path: Path, *, window: str | Window = "soft",
                   dpi: int = 110) -> Path | None:
    """A PNG grid of the stored examples of one data level, anatomy upright, in HU.

    For each example image two rows: the ground truth and every method's
    reconstruction in the CT ``window`` (PSNR in the title, a colour bar in
    HU), then the absolute error ``|x - gt|`` of each in HU (one colour scale
    per example, 0 to the :data:`ERROR_PERCENTILE`-th percentile of the
    errors of all methods, with its own colour bar). Images are converted
    with :func:`recon.physics.normalized_to_hu` at the data's ``mu_max``.

    Parameters
    ----------
    results : sequence of MethodResult
        Results of one data level: the reference (whose examples are the
        ground truths) and the methods.
    path : Path
        Output PNG (written atomically).
    window : str or Window
        CT window of the images (:func:`recon.plotting.ct_window`): ``"soft"``
        (W400/L40, the default), ``"lung"``, ``"bone"`` or ``"W,L"`` in HU.

    Returns
    -------
    Path or None
        ``path``, or None when there are no examples to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    window = ct_window(window)
    reference = next(result for result in results if result.method == REFERENCE)
    truths = reference.examples
    results = [result for result in results if result.method != REFERENCE]
    count = min((len(result.examples) for result in results), default=0)
    if count == 0:
        return None
    data = results[0].data
    indices = reference.example_indices or tuple(range(count))
    columns = len(results) + 1
    figure, axes = plt.subplots(2 * count, columns, figsize=(2.2 * columns + 1.2, 4.8 * count), squeeze=False,
                               layout="constrained")
    for i in range(count):
        truth = truths[i]
        truth_hu = normalized_to_hu(truth.astype(np.float64), mu_max=data.mu_max)
        errors = [np.abs(normalized_to_hu(result.examples[i].astype(np.float64), mu_max=data.mu_max) - truth_hu)
                  for result in results]
        error_max = float(np.percentile(np.stack(errors), ERROR_PERCENTILE)) or 1.0
        group = f" ({data.groups[indices[i]]})" if data.groups else ""
        image = show_ct(axes[2 * i, 0], truth, window=window, mu_max=data.mu_max,
                        title=f"ground truth #{indices[i]}{group}")
        axes[2 * i + 1, 0].set_axis_off()
        for j, (result, error) in enumerate(zip(results, errors), start=1):
            value = float(psnr(torch.from_numpy(result.examples[i]), torch.from_numpy(truth)))
            show_ct(axes[2 * i, j], result.examples[i], window=window, mu_max=data.mu_max,
                    title=f"{result.method}\n{value:.1f} dB")
            artist = show_image(axes[2 * i + 1, j], error, cmap="magma", vmin=0.0, vmax=error_max)
        figure.colorbar(image, ax=list(axes[2 * i, :]), fraction=0.02, label=f"HU ({window.label})")
        figure.colorbar(artist, ax=list(axes[2 * i + 1, 1:]), fraction=0.02, extend="max", label="|x - gt| (HU)")
    figure.suptitle(data.name)
    try:
        return save_figure(figure, path, dpi=dpi)
    finally:
        plt.close(figure)
