"""A stack of slices as one multi-page 16-bit TIFF, through tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon.export.stack import Labels, Stack, as_viewed, to_integers
from recon.files import atomic_path

__all__ = ["TIFF_OFFSET", "write"]

#: Stored value = HU + TIFF_OFFSET, as uint16: -1024 HU (below air) is 0, 3071 HU is 4095.
TIFF_OFFSET = 1024


def write(stack: Stack, labels: Labels, path: Path, *, overwrite: bool) -> Path:
    """Write the stack to the TIFF file ``path``: one uint16 page a slice, in slice order.

    Pages hold ``HU + TIFF_OFFSET`` (:data:`TIFF_OFFSET` 1024) rounded to
    the nearest integer and clipped to 0..65535 (HU below -1024 become 0),
    rows top->bottom as a viewer shows the slice upright. The first page's
    ImageDescription is JSON: ``{"description", "unit": "HU", "offset":
    1024, "pixel_size_mm", "window", "metadata"}``; X/YResolution are pixels
    per cm from the geometry's pixel size.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import tifffile

    nx, ny = stack.geometry.image_shape
    dx, dy, dz = stack.voxel_mm
    description = labels.json(unit="HU", offset=TIFF_OFFSET, pixel_size_mm=[dx, dy, dz],
                              window=labels.window.label)
    pages = (to_integers(as_viewed(hu) + TIFF_OFFSET, np.uint16) for hu in stack.hu())
    with atomic_path(path, overwrite=overwrite) as temporary, tifffile.TiffWriter(temporary) as tiff:
        tiff.write(pages, shape=(len(stack), ny, nx), dtype=np.uint16, photometric="minisblack",
                   description=description, metadata=None, resolution=(10 / dx, 10 / dy),
                   resolutionunit="CENTIMETER", software="recon")
    return path
