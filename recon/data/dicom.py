"""CT DICOM slices to ground truth on LoDoPaB-CT's normalised attenuation scale.

Stored values become Hounsfield units through ``RescaleSlope`` and
``RescaleIntercept``; the slice is fitted to the geometry's grid (LoDoPaB's
centre crop in pixels, LoDoPaB-CT's field taken from the centre of a slice and
resampled to any grid, or a physical resampling with ``PixelSpacing``), optionally
de-quantised with uniform [0, 1) HU noise as LoDoPaB-CT did, and mapped to
``[0, 1]`` by :func:`recon.physics.hu_to_normalized`.

Orientation: a DICOM slice is stored row by row from the top of the screen
(patient anterior for an axial slice). The result is x-first with ``x``
along the columns and ``y`` pointing up, so ``plt.imshow(image.T,
origin="lower")`` shows the anatomy as a radiology viewer does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from recon.geometry import Geometry
from recon.physics import hu_to_normalized

__all__ = ["read_hu", "fit_to_grid", "lodopab_field", "load_dicom", "AIR_HU", "LODOPAB_MARGIN"]

#: Fill value outside a slice, HU.
AIR_HU = -1000.0
#: LoDoPaB-CT's crop: 75 of every 512 pixels dropped on each side of a slice,
#: so the central 362 x 362 pixels of a 512 x 512 slice are its 26 cm field.
LODOPAB_MARGIN = 75 / 512
Fit = Literal["crop", "resample", "lodopab"]


def _dicom_files(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValueError(f"{path}: empty folder, expected CT DICOM files")
    return files


def _check_decodable(dataset, path: Path) -> None:
    from pydicom.pixels import get_decoder

    syntax = getattr(dataset, "file_meta", {}).get("TransferSyntaxUID")
    if syntax is None or not syntax.is_compressed:
        return
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ValueError(
            f"{path}: pixel data compressed as {syntax.name} ({syntax}) and no installed decoder reads it; "
            "install one (e.g. pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or "
            "decompress the files (gdcmconv --raw)"
        )


def _slice_hu(dataset, path: Path) -> np.ndarray:
    """Frames of one CT dataset in HU, shape (F, rows, columns), float64."""
    modality = dataset.get("Modality")
    if modality != "CT":
        raise ValueError(f"{path}: expected a CT image (Modality 'CT'), got Modality {modality!r}")
    missing = [tag for tag in ("RescaleSlope", "RescaleIntercept") if tag not in dataset]
    if missing:
        raise ValueError(f"{path}: missing {' and '.join(missing)}; cannot convert pixel values to HU")
    if "PixelData" not in dataset:
        raise ValueError(f"{path}: no pixel data")
    if int(dataset.get("SamplesPerPixel", 1)) != 1:
        raise ValueError(f"{path}: expected a grey-scale slice, got {dataset.SamplesPerPixel} samples per pixel")
    _check_decodable(dataset, path)
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many kinds for undecodable data
        raise ValueError(f"{path}: cannot decode pixel data: {error}") from None
    pixels = pixels.reshape(-1, *pixels.shape[-2:]).astype(np.float64)
    return pixels * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)


def read_hu(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float]]:
    """CT slices of a DICOM file or folder in HU, x-first and upright.

    A folder's files are all read (non-DICOM files are skipped) and sorted by
    position along the patient axis (``ImagePositionPatient``), else by
    ``InstanceNumber``, else by name.

    Parameters
    ----------
    path : path-like
        A DICOM file or a folder of them.

    Returns
    -------
    hu : numpy.ndarray, shape (N, nx, ny), float64
        ``hu[n, i, j]``: column ``i`` and row ``ny - 1 - j`` of slice ``n``.
    spacing : (float, float)
        Pixel size along x and y, metres (``PixelSpacing``; NaN if absent).

    Raises
    ------
    FileNotFoundError
        No such path.
    ValueError
        An empty folder, no DICOM file, a non-CT modality, missing rescale
        tags, compressed pixel data without a decoder, slices of different sizes.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    slices = []
    for file in _dicom_files(path):
        try:
            dataset = pydicom.dcmread(file)
        except (InvalidDicomError, EOFError, OSError) as error:
            if path.is_file():
                raise ValueError(f"{file}: not a readable DICOM file: {error}") from None
            continue
        except Exception as error:  # pydicom raises many kinds for a damaged file
            raise ValueError(f"{file}: not a readable DICOM file: {type(error).__name__}: {error}") from None
        slices.append(_slice(dataset, file))
    if not slices:
        raise ValueError(f"{path}: no DICOM files among its {len(_dicom_files(path))} files")
    if all(key[0] is not None for key, _, _ in slices):
        slices.sort(key=lambda s: (s[0][0], s[0][2]))
    else:
        slices.sort(key=lambda s: s[0][1:])
    shapes = {hu.shape[1:] for _, hu, _ in slices}
    if len(shapes) > 1:
        raise ValueError(f"{path}: slices of different sizes {sorted(shapes)}")
    hu = np.concatenate([h for _, h, _ in slices])
    return np.ascontiguousarray(hu[:, ::-1, :].transpose(0, 2, 1)), slices[0][2]


def _slice(dataset, file: Path) -> tuple[tuple, np.ndarray, tuple[float, float]]:
    """``(sort key, HU frames, pixel size in metres along x and y)`` of one DICOM dataset read from ``file``."""
    try:
        position = dataset.get("ImagePositionPatient")
        key = (float(position[2]) if position is not None and len(position) == 3 else None,
               int(dataset.get("InstanceNumber") or 0), file.name)
        hu = _slice_hu(dataset, file)
        spacing = dataset.get("PixelSpacing")
        # PixelSpacing is (between rows, between columns) in mm: y then x
        pixel = (float(spacing[1]) / 1000, float(spacing[0]) / 1000) if spacing else (np.nan, np.nan)
    except Exception as error:  # pydicom parses elements lazily: a damaged one fails here, in many ways
        if isinstance(error, ValueError) and str(file) in str(error):
            raise  # recon's own message about this file
        raise ValueError(f"{file}: a damaged DICOM element: {type(error).__name__}: {error}") from None
    return key, hu, pixel


def _centre_crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop, or pad with air, each axis of ``(N, nx, ny)`` to ``shape``."""
    out = np.full((len(image), *shape), AIR_HU)
    source, target = [], []
    for n, m in zip(image.shape[1:], shape):
        start = abs(n - m) // 2
        source.append(slice(start, start + m) if n >= m else slice(None))
        target.append(slice(None) if n >= m else slice(start, start + n))
    out[(slice(None), *target)] = image[(slice(None), *source)]
    return out


def _resample(image: np.ndarray, spacing: tuple[float, float], geometry: Geometry) -> np.ndarray:
    """Bilinear resampling of centred slices onto the geometry's grid, air outside."""
    from scipy import ndimage

    if not np.all(np.isfinite(spacing)):
        raise ValueError("fit='resample' needs PixelSpacing, which the slices lack; use fit='crop'")
    coordinates = []
    for axis in range(2):
        lo, hi, n = geometry.image_min[axis], geometry.image_max[axis], geometry.image_shape[axis]
        centres = lo + (np.arange(n) + 0.5) * (hi - lo) / n
        position = centres / spacing[axis] + (image.shape[1 + axis] - 1) / 2
        # pixel centres that coincide up to rounding error are taken as they are, not interpolated
        coordinates.append(np.where(np.abs(position - position.round()) < 1e-9, position.round(), position))
    grid = np.meshgrid(*coordinates, indexing="ij")
    zoom = np.asarray(spacing) / np.asarray(geometry.pixel_size[:2])
    sigma = np.maximum((1 / zoom - 1) / 2, 0)  # anti-aliasing when the grid is coarser
    out = []
    for hu in image:
        smooth = ndimage.gaussian_filter(hu, sigma, mode="nearest") if sigma.any() else hu
        out.append(ndimage.map_coordinates(smooth, grid, order=1, mode="constant", cval=AIR_HU))
    return np.stack(out)


def lodopab_field(hu: np.ndarray, geometry: Geometry, *, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """LoDoPaB-CT's field of x-first HU slices ``(N, nx', ny')``, on the geometry's grid.

    The crop drops :data:`LODOPAB_MARGIN` of the pixels on each side (75 of
    512: the central 362 x 362 of a 512 x 512 slice) and becomes the
    geometry's whole image domain, whatever the slice's pixel spacing, as in
    LoDoPaB-CT: anatomy fills the field and is cut at its edges. It is then
    resampled to the grid (Gaussian anti-aliasing and bilinear
    interpolation; the identity for a 512 x 512 slice on a 362 x 362 grid).

    Parameters
    ----------
    hu : numpy.ndarray, shape (N, nx', ny')
        Slices in HU, x-first (:func:`read_hu`).
    geometry : Geometry
        2D target grid.
    shift : (float, float)
        Offset of the crop along x and y in units of the margin, in
        ``[-1, 1]``: ``(0, 0)`` is LoDoPaB's central crop, ``(1, 0)`` puts it
        against the slice's right edge (another part of the body).

    Returns
    -------
    numpy.ndarray, shape (N, nx, ny), float64
    """
    if not all(-1 <= s <= 1 for s in shift):
        raise ValueError(f"shift: expected offsets in [-1, 1] (units of the crop margin), got {shift}")
    extent = [hi - lo for lo, hi in zip(geometry.image_min[:2], geometry.image_max[:2])]
    width = hu.shape[1] - 2 * round(hu.shape[1] * LODOPAB_MARGIN)
    sizes = (width, round(width * extent[1] / extent[0]))  # the grid's aspect ratio, square slice pixels
    if sizes[1] > hu.shape[2]:
        raise ValueError(f"a {geometry.image_shape} grid needs {sizes[1]} rows of a slice with {hu.shape[2]}")
    window = []
    for n, size, s in zip(hu.shape[1:], sizes, shift):
        margin = (n - size) / 2
        start = round(margin + s * margin)
        window.append(slice(start, start + size))
    spacing = (extent[0] / sizes[0], extent[1] / sizes[1])
    return _resample(hu[(slice(None), *window)], spacing, geometry)


def fit_to_grid(
    hu: np.ndarray, spacing: tuple[float, float], geometry: Geometry, *, fit: Fit = "crop"
) -> np.ndarray:
    """Fit x-first HU slices ``(N, nx', ny')`` to ``geometry.image_shape``.

    ``"crop"``: a centre crop in pixels (512 -> 362 drops 75 on each side, as
    LoDoPaB-CT for its 362 x 362 grid), padding with air if the slice is
    smaller; pixel size is ignored. ``"lodopab"``: LoDoPaB-CT's field on any
    grid, the central 362/512 of the slice resampled to the geometry's
    pixels (:func:`lodopab_field`; equal to ``"crop"`` for 512 -> 362).
    ``"resample"`` keeps physical size: bilinear interpolation from
    ``spacing`` (metres) to the geometry's pixels, Gaussian anti-aliasing
    when coarser, slice centre at the domain centre, air outside.
    """
    if geometry.ndim != 2:
        raise ValueError(f"expected a 2D geometry, got {geometry.kind!r}")
    if fit == "crop":
        return _centre_crop(hu, geometry.image_shape)
    if fit == "lodopab":
        return lodopab_field(hu, geometry)
    if fit == "resample":
        return _resample(hu, spacing, geometry)
    raise ValueError(f"fit: expected 'crop', 'lodopab' or 'resample', got {fit!r}")


def load_dicom(
    path: str | os.PathLike,
    geometry: Geometry,
    *,
    fit: Fit = "crop",
    dequantize_seed: int | None = None,
) -> np.ndarray:
    """CT DICOM slices as ground truth on LoDoPaB's normalised attenuation scale.

    Parameters
    ----------
    path : path-like
        A CT DICOM file or a folder of them.
    geometry : Geometry
        Target grid.
    fit : {"crop", "lodopab", "resample"}
        See :func:`fit_to_grid`.
    dequantize_seed : int, optional
        If given, add uniform [0, 1) HU noise drawn with this seed before the
        conversion, as LoDoPaB-CT did; by default the data are not altered.

    Returns
    -------
    numpy.ndarray, shape (N, nx, ny), float32
        Values in [0, 1], x-first, upright with ``image.T, origin="lower"``.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> load_dicom(get_testdata_file("CT_small.dcm"), Geometry.parallel(image_size=96)).shape
    (1, 96, 96)
    """
    hu, spacing = read_hu(path)
    hu = fit_to_grid(hu, spacing, geometry, fit=fit)
    if dequantize_seed is not None:
        hu = hu + np.random.default_rng(dequantize_seed).uniform(0, 1, size=hu.shape)
    return hu_to_normalized(hu).astype(np.float32)
