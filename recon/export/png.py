"""Slices as 8-bit grey PNG previews through a CT window, through Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon.export.stack import Labels, Stack, as_viewed, series_folder, slice_names, to_integers
from recon.files import atomic_folder, atomic_path

__all__ = ["write"]


def write(stack: Stack, labels: Labels, path: Path, *, overwrite: bool) -> Path:
    """Write each slice as a PNG through the window: the file ``path``, or a folder for several slices.

    One slice: the file ``path``. Several: the folder ``path`` without its
    ``.png`` suffix (``preview.png`` -> ``preview/``) of ``0001.png``,
    ``0002.png`` ... in slice order. Pixels: 8-bit grey, 0 at or below the
    window's low end, 255 at or above its high end (the level is 128),
    upright as a viewer shows the slice. Text chunks: ``Description`` the
    description, ``Comment`` JSON of it with the window, the pixel size and
    the metadata.

    Returns
    -------
    pathlib.Path
        The file or the folder.
    """
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Description", labels.description)
    info.add_itxt("Comment", labels.json(window=labels.window.label, pixel_size_mm=list(stack.voxel_mm[:2])))
    previews = (to_integers(255 * labels.window.grey(as_viewed(hu)), np.uint8) for hu in stack.hu())
    if len(stack) == 1:
        with atomic_path(path, overwrite=overwrite) as temporary:
            _write_slice(next(previews), temporary, info)
        return path
    folder = series_folder(path, ".png")
    with atomic_folder(folder, overwrite=overwrite) as temporary:
        for pixels, name in zip(previews, slice_names(len(stack), ".png")):
            _write_slice(pixels, temporary / name, info)
    return folder


def _write_slice(pixels: np.ndarray, path: Path, info) -> None:
    """Write one 8-bit grey image ``(rows, columns)`` as a PNG file with the text chunks ``info``."""
    from PIL import Image

    Image.fromarray(pixels).save(path, format="PNG", pnginfo=info)
