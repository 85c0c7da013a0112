"""The sinograms a user reconstructs: recon HDF5 files, LoDoPaB-CT folders, NumPy arrays and files.

Every source becomes a :class:`SinogramInput`: post-log sinograms on LoDoPaB's
normalised scale, read a chunk at a time (a file is never loaded whole), with
the geometry they were measured on. Pre-log photon counts are converted with
LoDoPaB's log step (:func:`recon.physics.counts_to_post_log`) given the
unattenuated count ``N0``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recon.checks import check_finite
from recon.geometry import Geometry
from recon.physics import MU_MAX, check_photons, counts_to_post_log

__all__ = ["ARRAY_SUFFIXES", "SinogramInput", "open_sinograms", "sinogram_input"]

#: Suffixes of NumPy sinogram files.
ARRAY_SUFFIXES = (".npy", ".npz")
_HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass(frozen=True, eq=False)
class SinogramInput:
    """Sinograms to reconstruct, read in chunks.

    Attributes
    ----------
    name : str
        Names the data in messages and output metadata.
    key : str
        Identifies the data (path, size, modification time, conversion):
        an interrupted run resumes only on the same key.
    geometry : Geometry
        The acquisition; ``geometry.sinogram_shape`` is ``(A, D)``.
    num_samples : int
        ``N``.
    read : callable
        ``read(start, stop) -> numpy.ndarray (stop - start, A, D)`` float32,
        post-log, checked finite; ``ValueError`` naming the data otherwise.
    mu_max : float
        Attenuation of the normalised value 1, 1/m (the scale of the data).
    """

    name: str
    key: str
    geometry: Geometry
    num_samples: int
    read: Callable[[int, int], np.ndarray]
    mu_max: float = MU_MAX


def _post_log(raw: np.ndarray, what: str, start: int, photons: float | None, mu_max: float) -> np.ndarray:
    """A chunk as checked post-log float32; counts (``photons`` given) converted first."""
    data = np.array(raw, dtype=np.float32)  # a copy: memory-mapped files are read-only
    check_finite(data, what, first_index=start)
    if photons is None:
        return data
    negative = int((data < 0).sum())
    if negative:
        raise ValueError(f"{what}: expected photon counts >= 0, got {negative} negative values "
                         f"in samples {start} to {start + len(data) - 1}")
    return counts_to_post_log(torch.from_numpy(data), photons=photons, mu_max=mu_max).numpy()


def _check_counts(counts: bool, photons: float | None) -> float | None:
    """``N0`` of a counts input, None for post-log data; errors for a missing or a stray photon count."""
    if counts and photons is None:
        raise ValueError("counts: expected the photon count N0 of the unattenuated beam (--photons), got none")
    if not counts and photons is not None:
        raise ValueError(f"photons: only for pre-log counts (--counts), got {photons!r} for post-log data")
    return None if photons is None else check_photons("photons", photons)


def sinogram_input(sinograms: np.ndarray, geometry: Geometry, *, counts: bool = False,
                   photons: float | None = None, mu_max: float = MU_MAX, name: str = "sinograms",
                   key: str | None = None) -> SinogramInput:
    """An in-memory (or memory-mapped) array of sinograms as input.

    Parameters
    ----------
    sinograms : numpy.ndarray, shape (N, A, D) or (A, D)
        Post-log sinograms on the normalised scale, or photon counts with
        ``counts=True``.
    geometry : Geometry
        Their acquisition: ``(A, D)`` must be ``geometry.sinogram_shape``.
    counts : bool
        The values are pre-log photon counts per bin.
    photons : float, optional
        ``N0``, photons per bin of the unattenuated beam (with ``counts`` only).
    mu_max : float
        Attenuation of the normalised value 1, 1/m.
    name, key : str
        Names the data in messages; identifies it for resuming (default:
        its name, shape and conversion).

    Raises
    ------
    ValueError
        Not 2 or 3 dimensions, a shape that does not fit the geometry, no
        samples, or counts without ``photons``.
    """
    photons = _check_counts(counts, photons)
    array = sinograms if isinstance(sinograms, np.ndarray) else np.asarray(sinograms)
    if array.ndim == 2:
        array = array[None]
    expected = tuple(geometry.sinogram_shape)
    if array.ndim != 3 or tuple(array.shape[1:]) != expected or not len(array):
        raise ValueError(f"{name}: expected sinograms (N, {', '.join(map(str, expected))}) or "
                         f"({', '.join(map(str, expected))}) for a {geometry.describe()}, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype}")
    conversion = f"counts:{photons:g}" if photons is not None else "post-log"
    return SinogramInput(
        name=name, key=key or f"array:{name}:{array.shape}:{conversion}", geometry=geometry,
        num_samples=len(array), mu_max=mu_max,
        read=lambda start, stop: _post_log(array[start:stop], name, start, photons, mu_max),
    )


def _load_array(path: Path) -> np.ndarray:
    """The sinograms of a ``.npy`` (memory-mapped) or ``.npz`` file (its one array, or ``sinograms``)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            if len(names) != 1 and "sinograms" not in names:
                raise ValueError(f"{path}: expected one array or one named 'sinograms', got {names}")
            return archive["sinograms" if "sinograms" in names else names[0]]
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable NumPy file: {error}") from None
    except ValueError as error:  # object arrays (pickles) are refused, never loaded
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: cannot read it without pickle (object arrays are refused): {error}") from None


def _hdf5_input(path: Path) -> SinogramInput:
    from recon.data.datasets import LazyFiles
    from recon.data.hdf5 import inspect_paired

    info = inspect_paired(path, require_images=False)
    files = LazyFiles()

    def read(start: int, stop: int) -> np.ndarray:
        return np.stack([files.read(path, "sinograms", index) for index in range(start, stop)])

    stat = path.stat()
    return SinogramInput(name=path.name, key=f"hdf5:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}",
                         geometry=info.geometry, num_samples=info.num_samples, read=read,
                         mu_max=float(info.physics.get("mu_max", MU_MAX)))


def _lodopab_input(path: Path, part: str) -> SinogramInput:
    from recon.data import LoDoPaB

    dataset = LoDoPaB(path, part, allow_partial=True)

    def read(start: int, stop: int) -> np.ndarray:
        return np.stack([dataset.read(index)[0] for index in range(start, stop)])

    return SinogramInput(name=f"{path.name} ({part})", key=dataset.source_id(), geometry=dataset.geometry,
                         num_samples=dataset.num_samples, read=read)


def open_sinograms(path: str | os.PathLike, *, geometry: Geometry | None = None, part: str | None = None,
                   counts: bool = False, photons: float | None = None, mu_max: float = MU_MAX) -> SinogramInput:
    """Sinograms stored on disk as input.

    Parameters
    ----------
    path : path-like
        A recon HDF5 file (``recon simulate``; ground truths optional), a
        folder in LoDoPaB-CT's layout, or a NumPy ``.npy`` / ``.npz`` file of
        sinograms ``(N, A, D)`` or ``(A, D)``.
    geometry : Geometry, optional
        Required for NumPy files; HDF5 files and LoDoPaB folders carry their own.
    part : str, optional
        The LoDoPaB part of a folder (default ``"test"``).
    counts, photons, mu_max
        As :func:`sinogram_input`, for NumPy files (HDF5 files and LoDoPaB
        folders hold post-log data).

    Raises
    ------
    FileNotFoundError
        No such file or folder.
    ValueError
        An unknown suffix, a missing or superfluous geometry, part or photon
        count, or data that do not fit the geometry.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if path.is_file() and suffix not in (*_HDF5_SUFFIXES, *ARRAY_SUFFIXES):
        raise ValueError(f"{path}: expected a recon HDF5 file ({', '.join(_HDF5_SUFFIXES)}), NumPy sinograms "
                         f"({', '.join(ARRAY_SUFFIXES)}) or a LoDoPaB-CT folder, got suffix {path.suffix!r}")
    if part is not None and not path.is_dir():
        raise ValueError(f"part: only for a LoDoPaB-CT folder, got the file {path}")
    if path.is_dir() or suffix in _HDF5_SUFFIXES:
        given = [name for name, value in (("geometry", geometry), ("counts", counts or None),
                                          ("photons", photons)) if value is not None]
        if given:
            raise ValueError(f"{path}: {', '.join(given)}: only for NumPy sinograms (.npy, .npz); "
                             "HDF5 files and LoDoPaB folders record their own geometry and hold post-log data")
        return _lodopab_input(path, part or "test") if path.is_dir() else _hdf5_input(path)
    if geometry is None:
        raise ValueError(f"{path}: NumPy sinograms need a geometry (a preset name, a Geometry.to_json() file "
                         "or the size options)")
    stat = path.stat()
    return sinogram_input(_load_array(path), geometry, counts=counts, photons=photons, mu_max=mu_max,
                          name=path.name, key=f"array:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:"
                                               f"{geometry.fingerprint()}:{photons if counts else 'post-log'}")
