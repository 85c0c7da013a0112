"""Real CT slices shipped with pydicom and pydicom-data, prepared as LoDoPaB-CT prepares its images.

Evaluation data only: no model of recon trains on them and nothing is tuned
on them. They are read from the installed packages, never downloaded.

Each slice gives LoDoPaB-CT's central field (the central 362 x 362 pixels of a
512 x 512 slice as the 26 cm image domain, :func:`recon.data.dicom.lodopab_field`)
and four shifted crops of the same size against the slice's left, right,
bottom and top edges, which show other parts of the body. Physical-size
resampling (``fit="resample"``, the slice's own pixel spacing on the 26 cm
field, one image per slice) stays available.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

from recon.geometry import Geometry

__all__ = ["ANATOMY_SLICES", "CROP_SHIFTS", "AnatomyFit", "anatomy_images", "installed_slices"]

#: The real CT slices, in this order (``eCT_Supplemental.dcm``, a perfusion map, is not a CT image).
ANATOMY_SLICES = (
    "CT_small.dcm",               # pydicom: 128 x 128 pixels of 0.66 mm, a vertebra and back muscles
    "J2K_pixelrep_mismatch.dcm",  # pydicom: a head at the skull base (JPEG 2000)
    "693_UNCI.dcm",               # pydicom-data: a head
    "explicit_VR-UN.dcm",         # pydicom-data: an abdomen (JPEG 2000)
    "bad_sequence.dcm",           # pydicom-data: a neck (JPEG lossless: needs pylibjpeg-libjpeg)
)

#: Crops of each slice: shifts of LoDoPaB's central field in units of its margin (see
#: :func:`recon.data.dicom.lodopab_field`), named by the part of the slice they show.
CROP_SHIFTS = {"centre": (0.0, 0.0), "left": (-1.0, 0.0), "right": (1.0, 0.0), "bottom": (0.0, -1.0),
               "top": (0.0, 1.0)}

AnatomyFit = Literal["lodopab", "resample"]


def installed_slices() -> list[tuple[str, str]]:
    """``(name, path)`` of the slices of :data:`ANATOMY_SLICES` that are installed, in order."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return []
    paths = [(name, get_testdata_file(name, download=False)) for name in ANATOMY_SLICES]
    return [(name, str(path)) for name, path in paths if path is not None]


@lru_cache(maxsize=8)
def _prepared(geometry: Geometry, fit: AnatomyFit) -> tuple[np.ndarray, tuple[str, ...]]:
    from recon.data.dicom import lodopab_field, read_hu
    from recon.physics import hu_to_normalized

    images, labels = [], []
    for name, path in installed_slices():
        hu, spacing = read_hu(path)
        if fit == "resample":
            from recon.data.dicom import fit_to_grid

            images.append(fit_to_grid(hu, spacing, geometry, fit="resample")[0])
            labels.append(name)
            continue
        for crop, shift in CROP_SHIFTS.items():
            images.append(lodopab_field(hu, geometry, shift=shift)[0])
            labels.append(f"{name} ({crop})")
    if not images:
        return np.zeros((0, *geometry.image_shape), np.float32), ()
    stack = hu_to_normalized(np.stack(images)).astype(np.float32)
    stack.flags.writeable = False  # shared by every caller of the cache
    return stack, tuple(labels)


def anatomy_images(geometry: Geometry, *, fit: AnatomyFit = "lodopab") -> tuple[np.ndarray, tuple[str, ...]]:
    """The installed real CT slices on a geometry's grid, normalised attenuation.

    Parameters
    ----------
    geometry : Geometry
        2D geometry giving the grid and the field.
    fit : {"lodopab", "resample"}
        ``"lodopab"``: per slice LoDoPaB's central field and the four shifted
        crops of :data:`CROP_SHIFTS`; ``"resample"``: per slice the whole
        slice at its physical size, centred, air around it or cut by the field.

    Returns
    -------
    images : numpy.ndarray, shape (N, nx, ny), float32
        Values in [0, 1], x-first, upright with ``image.T, origin="lower"``;
        read-only (cached). ``N = 0`` without pydicom.
    labels : tuple of str
        ``"CT_small.dcm (centre)"`` ... for ``"lodopab"``, the file name for ``"resample"``.
    """
    if fit not in ("lodopab", "resample"):
        raise ValueError(f"fit: expected 'lodopab' or 'resample', got {fit!r}")
    return _prepared(geometry, fit)
