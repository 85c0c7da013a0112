"""Reconstructed CT images to the files a viewer opens: NIfTI, a DICOM series, 16-bit TIFF, PNG previews.

Every format stores CT numbers converted once, by
:func:`recon.physics.normalized_to_hu`, and orients slices alike: a viewer
shows the anatomy as ``plt.imshow(image.T, origin="lower")`` does
(:mod:`recon.export.stack`). HDF5 is recon's own format, written elsewhere;
:func:`export_format` names it too, so that callers can branch on one value.

Outputs appear whole or not at all: single files through
:func:`recon.files.atomic_path`, folders (a DICOM series, PNGs of several
slices) through :func:`recon.files.atomic_folder`.

Examples
--------
>>> export_format("scan.nii.gz"), export_format("series", "dicom"), export_format("x.h5")
('nifti', 'dicom', 'hdf5')
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from recon.geometry import Geometry
from recon.physics import MU_MAX
from recon.plotting import Window, ct_window

__all__ = ["EXPORT_FORMATS", "export_format", "export_images", "export_path"]

#: The formats :func:`export_images` writes, each by the module ``recon.export.<module>``.
_WRITERS = {"nifti": "nifti", "dicom": "dicom_series", "tiff": "tiff", "png": "png"}
#: File formats written here; ``"hdf5"`` is written by recon's HDF5 writer.
EXPORT_FORMATS = tuple(_WRITERS)
#: Suffix (matched in lower case) -> format.
_SUFFIXES = {".nii.gz": "nifti", ".nii": "nifti", ".h5": "hdf5", ".hdf5": "hdf5", ".dcm": "dicom",
             ".tif": "tiff", ".tiff": "tiff", ".png": "png"}
_FORMATS = ("hdf5", *EXPORT_FORMATS)


def export_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The format of an export to ``path``: ``format`` if given, else the one its suffix names.

    Parameters
    ----------
    path : path-like
        Output path: ``.h5``/``.hdf5`` (hdf5), ``.nii``/``.nii.gz`` (nifti),
        ``.dcm`` (dicom), ``.tif``/``.tiff`` (tiff), ``.png`` (png), any case.
        A path without a suffix needs ``format`` (a DICOM series' folder).
    format : str, optional
        One of ``"hdf5"``, ``"nifti"``, ``"dicom"``, ``"tiff"``, ``"png"``
        (any case); it wins over the suffix.

    Returns
    -------
    str
        One of ``"hdf5"`` and :data:`EXPORT_FORMATS`.

    Raises
    ------
    ValueError
        An unknown ``format``, or no ``format`` and an unknown or missing suffix.
    """
    known = f"expected a suffix {', '.join(_SUFFIXES)} or a format {', '.join(_FORMATS)}"
    if format is not None:
        if str(format).lower() not in _FORMATS:
            raise ValueError(f"format: {known}, got format {format!r}")
        return str(format).lower()
    name = Path(path).name.lower()
    for suffix, chosen in _SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return chosen
    raise ValueError(f"{path}: {known}, got suffix {Path(path).suffix!r}")


def export_path(path: str | os.PathLike, format: str, num_images: int) -> Path:
    """What an export of ``num_images`` slices in ``format`` writes to ``path``: the file, or the series' folder.

    Examples
    --------
    >>> export_path("out.dcm", "dicom", 3), export_path("a.png", "png", 1), export_path("a.png", "png", 2)
    (PosixPath('out'), PosixPath('a.png'), PosixPath('a'))
    """
    from recon.export.stack import series_folder

    path = Path(path)
    if format == "dicom" or (format == "png" and num_images > 1):
        return series_folder(path, f".{'dcm' if format == 'dicom' else 'png'}")
    return path


def export_images(
    images: Any,
    geometry: Geometry,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    description: str,
    mu_max: float = MU_MAX,
    window: str | Window = "soft-tissue",
    overwrite: bool = False,
    metadata: dict[str, Any] | None = None,
) -> list[Path]:
    """Write a stack of reconstructed slices in a format a viewer opens.

    Parameters
    ----------
    images : array_like or h5py.Dataset, shape (N, nx, ny)
        Normalised attenuation ``mu / mu_max`` (LoDoPaB-CT's scale), x-first
        on ``geometry``'s grid; read one slice at a time (NIfTI holds the
        stack in memory, as float32 HU).
    geometry : Geometry
        The 2D geometry of the images: pixel size (mm in the files) and
        position. Slices are spaced, and as thick as, one pixel along x.
    path : path-like
        Output. NIfTI and TIFF: the file ``path``. DICOM: a folder, ``path``
        without a ``.dcm`` suffix, of ``0001.dcm``, ``0002.dcm`` ... PNG: the
        file ``path`` for one slice; for several, a folder, ``path`` without
        its ``.png`` suffix, of ``0001.png``, ``0002.png`` ...
    format : {"nifti", "dicom", "tiff", "png"}, optional
        Default: from the suffix (:func:`export_format`).
    description : str
        One line naming the method, e.g. ``"recon 0.1.0 tv:weight=1e-6"``.
    mu_max : float
        Attenuation of the value 1, 1/m (:func:`recon.physics.normalized_to_hu`).
    window : str or Window
        CT window (:func:`recon.plotting.ct_window`: a name or ``"W,L"``) of
        the PNG grey levels, and the display window stored in DICOM and NIfTI.
    overwrite : bool
        Replace an existing output; otherwise ``FileExistsError``.
    metadata : dict, optional
        JSON-serialisable extras (method spec, parameters, version,
        ``geometry.to_json()``), stored in NIfTI (a comment extension of
        JSON), TIFF (the ImageDescription JSON) and PNG (a text chunk).

    Returns
    -------
    list of pathlib.Path
        The file or folder written.

    Raises
    ------
    ValueError
        An unknown format or window, ``"hdf5"``, images of another shape
        than ``(N, nx, ny)`` or with NaN / inf, a description of several lines.
    FileExistsError
        The output exists and ``overwrite`` is false.
    FileNotFoundError
        The output's parent folder does not exist.

    Notes
    -----
    The formats in detail: :func:`recon.export.nifti.write`,
    :func:`recon.export.dicom_series.write`, :func:`recon.export.tiff.write`,
    :func:`recon.export.png.write`.
    """
    from recon.export.stack import Labels, Stack

    chosen = export_format(path, format)
    if chosen not in _WRITERS:
        raise ValueError(f"format: export_images writes {', '.join(EXPORT_FORMATS)}, got {chosen!r} "
                         "(HDF5 is recon's own format, written by its HDF5 writer)")
    labels = Labels(description, ct_window(window), dict(metadata or {}))
    stack = Stack.checked(images, geometry, mu_max)
    writer = importlib.import_module(f"recon.export.{_WRITERS[chosen]}")
    return [writer.write(stack, labels, Path(path), overwrite=overwrite)]
