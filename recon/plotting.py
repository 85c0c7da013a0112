"""Figures with anatomy upright: x-first arrays shown with y pointing up."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recon.files import atomic_path

__all__ = ["show_image", "show_sinogram", "save_figure"]


def show_image(ax, image, *, title: str | None = None, cmap: str = "gray", **kwargs):
    """Draw an x-first image ``(nx, ny)`` upright (x to the right, y up).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : array_like or Tensor, shape (nx, ny)
    title : str, optional
    kwargs
        Passed to ``imshow`` (``vmin``, ``vmax`` ...).
    """
    data = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    artist = ax.imshow(data.T, origin="lower", cmap=cmap, **kwargs)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return artist


def show_sinogram(ax, sinogram, *, title: str | None = None, cmap: str = "gray", **kwargs):
    """Draw a sinogram ``(num_angles, num_detectors)``: detector across, angle down."""
    data = np.asarray(sinogram.detach().cpu() if hasattr(sinogram, "detach") else sinogram)
    artist = ax.imshow(data, cmap=cmap, aspect="auto", **kwargs)
    ax.set_xlabel("detector bin")
    ax.set_ylabel("angle index")
    if title:
        ax.set_title(title)
    return artist


def save_figure(figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save ``figure`` to ``path`` atomically (temporary file, then rename); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as temporary:
        figure.savefig(temporary, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    return path
