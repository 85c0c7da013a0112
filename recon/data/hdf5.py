"""recon's paired sinogram/image HDF5 format: atomic writing and validated reading.

One file holds one split:

* ``images``, shape ``(N, nx, ny)``, float32, x-first, normalised attenuation;
* ``sinograms``, shape ``(N, num_angles, num_detectors)``, float32, post-log;
* both chunked one sample per chunk, with Fletcher-32 checksums (corrupt
  chunks raise instead of returning garbage) and optional compression;
* optionally ``groups``, shape ``(N,)``, UTF-8 strings: a subgroup label per
  sample (anatomy, phantom family ...) for per-group benchmark tables;
* attributes ``format`` (``"recon-paired"``), ``format_version``,
  ``geometry`` (:meth:`recon.Geometry.to_json`), ``physics`` (JSON: photons,
  mu_max, seed, fine-grid factor ...) and ``recon_version``.

Files are written under a temporary name in the target folder and renamed
when complete, so a reader never sees a partial file (an interrupted or
failed write leaves nothing behind). Dataset timestamps are not stored, so
the same content gives the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from recon.checks import check_finite
from recon.data.hdf5_guard import probe_metadata
from recon.files import atomic_path
from recon.geometry import Geometry
from recon.version import __version__

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Compression",
    "create_sample_dataset",
    "open_hdf5",
    "read_hdf5",
    "HDF5_ERRORS",
    "PairedWriter",
    "write_paired",
    "PairedFileInfo",
    "inspect_paired",
]

FORMAT = "recon-paired"
FORMAT_VERSION = 1
Compression = Literal["gzip", "lzf"] | None


def create_sample_dataset(
    h5: h5py.File, name: str, shape: tuple[int, ...], *, compression: Compression = None
) -> h5py.Dataset:
    """A float32 dataset chunked one sample (first axis) per chunk, checksummed, no timestamps."""
    if compression not in ("gzip", "lzf", None):
        raise ValueError(f"compression: expected 'gzip', 'lzf' or None, got {compression!r}")
    return h5.create_dataset(
        name,
        shape=shape,
        dtype=np.float32,
        chunks=(1, *shape[1:]) if shape[0] else None,
        compression=compression,
        fletcher32=bool(shape[0]),
        track_times=False,
    )


def _check_groups(groups: Sequence[str], num_samples: int) -> tuple[str, ...]:
    """``groups`` as a tuple of ``num_samples`` strings; raises naming what is wrong."""
    if isinstance(groups, str) or not all(isinstance(label, str) for label in groups):
        raise TypeError(f"groups: expected a sequence of str, one per sample, got {groups!r:.80}")
    if len(groups) != num_samples:
        raise ValueError(f"groups: expected one label per sample ({num_samples}), got {len(groups)}")
    return tuple(groups)


def open_hdf5(path: str | os.PathLike) -> h5py.File:
    """Open an HDF5 file read-only with errors that name the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: expected an HDF5 file, got a folder")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {error}") from None


#: What h5py raises on reading a damaged file's metadata or data.
HDF5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


@contextlib.contextmanager
def read_hdf5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """:func:`open_hdf5` as a context in which h5py's errors on a damaged file become ``ValueError``.

    Raises
    ------
    ValueError
        Not an HDF5 file, or one whose metadata or data h5py cannot read
        (:data:`HDF5_ERRORS` that do not name the file already), or whose
        metadata crash or hang libhdf5 (:func:`~recon.data.hdf5_guard.probe_metadata`);
        the message names the file.
    """
    probe_metadata(path)
    with open_hdf5(path) as h5:
        try:
            yield h5
        except HDF5_ERRORS as error:
            if str(path) in str(error):  # recon's own message about this file
                raise
            raise ValueError(f"{path}: not a readable HDF5 file (damaged?): {' '.join(str(error).split())}") from None


class PairedWriter:
    """Write a paired file in pieces, atomically.

    Parameters
    ----------
    path : path-like
        Output file.
    num_samples : int
        ``N``; every sample must be written before the block ends.
    geometry : Geometry
        Acquisition geometry; fixes ``(nx, ny)`` and ``(num_angles, num_detectors)``.
    physics : dict
        JSON-serialisable description of the simulation.
    compression : {"gzip", "lzf", None}
        HDF5 compression of each chunk.
    overwrite : bool
        Replace an existing file.
    groups : sequence of str, optional
        A subgroup label per sample (``num_samples`` of them), stored as the
        ``groups`` dataset.
    with_images : bool
        Store the ground-truth images (default). False writes a sinogram-only
        file, as measured data come (no ``images`` dataset; :meth:`write` then
        takes ``images=None``).

    Examples
    --------
    >>> with PairedWriter(path, num_samples=2, geometry=g, physics={}) as w:  # doctest: +SKIP
    ...     w.write(0, images, sinograms)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_samples: int,
        geometry: Geometry,
        physics: dict[str, Any],
        compression: Compression = None,
        overwrite: bool = False,
        groups: Sequence[str] | None = None,
        with_images: bool = True,
    ) -> None:
        if not isinstance(geometry, Geometry) or geometry.ndim != 2:
            raise TypeError(f"geometry: expected a 2D recon.Geometry, got {geometry!r}")
        if num_samples < 0:
            raise ValueError(f"num_samples: expected >= 0, got {num_samples}")
        self.groups = None if groups is None else _check_groups(groups, num_samples)
        self.path = Path(path)
        self.num_samples = int(num_samples)
        self.geometry = geometry
        self.physics = json.dumps(physics, sort_keys=True)
        self.compression = compression
        self.overwrite = overwrite
        self.with_images = bool(with_images)
        self._written = np.zeros(self.num_samples, dtype=bool)

    def __enter__(self) -> PairedWriter:
        self._stack = contextlib.ExitStack()
        with self._stack:
            temporary = self._stack.enter_context(atomic_path(self.path, overwrite=self.overwrite))
            h5 = self._stack.enter_context(h5py.File(temporary, "w", track_order=True))
            n = self.num_samples
            self._images = create_sample_dataset(h5, "images", (n, *self.geometry.image_shape),
                                                 compression=self.compression) if self.with_images else None
            self._sinograms = create_sample_dataset(h5, "sinograms", (n, *self.geometry.sinogram_shape),
                                                    compression=self.compression)
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["geometry"] = self.geometry.to_json()
            h5.attrs["physics"] = self.physics
            h5.attrs["recon_version"] = __version__
            if self.groups is not None:
                h5.create_dataset("groups", data=np.array(self.groups, dtype=object),
                                  dtype=h5py.string_dtype(), track_times=False)
            self._stack = self._stack.pop_all()
        return self

    def write(self, start: int, images: np.ndarray, sinograms: np.ndarray) -> None:
        """Store samples ``start, start + 1, ...``.

        Parameters
        ----------
        start : int
            Index of the first sample.
        images : array_like, shape (b, nx, ny), or None
            None exactly when the writer stores no images (``with_images=False``).
        sinograms : array_like, shape (b, num_angles, num_detectors)

        Raises
        ------
        ValueError
            Wrong shapes, images given to a sinogram-only writer (or missing
            from a paired one), samples outside the file, or NaN / inf values
            (their count and the index of the first, counted in the file's
            samples).
        """
        if (images is None) == self.with_images:
            raise ValueError(f"{self.path}: images: expected {'an array' if self.with_images else 'None'} "
                             f"(with_images={self.with_images}), got {'None' if images is None else 'an array'}")
        sinograms = np.asarray(sinograms, dtype=np.float32)
        checked = [("sinograms", sinograms, self.geometry.sinogram_shape)]
        if self.with_images:
            images = np.asarray(images, dtype=np.float32)
            checked.insert(0, ("images", images, self.geometry.image_shape))
        for name, data, shape in checked:
            if data.ndim != 3 or data.shape[1:] != tuple(shape):
                raise ValueError(f"{self.path}: {name}: expected shape (b, {', '.join(map(str, shape))}), "
                                 f"got {data.shape}")
        if self.with_images and len(images) != len(sinograms):
            raise ValueError(f"{self.path}: {len(images)} images but {len(sinograms)} sinograms")
        for name, data, _ in checked:
            check_finite(data, f"{self.path}: {name}", first_index=start)
        stop = start + len(sinograms)
        if not 0 <= start <= stop <= self.num_samples:
            raise ValueError(f"{self.path}: samples {start}..{stop - 1} outside 0..{self.num_samples - 1}")
        if self.with_images:
            self._images[start:stop] = images
        self._sinograms[start:stop] = sinograms
        self._written[start:stop] = True

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None and not self._written.all():
            missing = int((~self._written).sum())
            error = ValueError(f"{self.path}: {missing} of {self.num_samples} samples were never written")
            self._stack.__exit__(ValueError, error, None)
            raise error
        return bool(self._stack.__exit__(kind, error, traceback))


def write_paired(
    path: str | os.PathLike,
    images: np.ndarray,
    sinograms: np.ndarray,
    *,
    geometry: Geometry,
    physics: dict[str, Any],
    compression: Compression = None,
    overwrite: bool = False,
    groups: Sequence[str] | None = None,
) -> Path:
    """Write a whole paired file at once (see :class:`PairedWriter`); returns its path."""
    with PairedWriter(path, num_samples=len(images), geometry=geometry, physics=physics,
                      compression=compression, overwrite=overwrite, groups=groups) as writer:
        writer.write(0, images, sinograms)
    return Path(path)


@dataclass(frozen=True)
class PairedFileInfo:
    """What a validated paired file holds.

    Attributes
    ----------
    path : pathlib.Path
    num_samples : int
        ``N``.
    geometry : Geometry
        The acquisition; ``geometry.image_shape`` and ``geometry.sinogram_shape``
        are the per-sample shapes.
    physics : dict
        The simulation parameters recorded by the producer.
    recon_version : str
        Version of recon that wrote the file.
    groups : tuple of str or None
        The subgroup label of each sample, if the file has them.
    has_images : bool
        Whether the file holds ground-truth images (a sinogram-only file,
        accepted by ``inspect_paired(..., require_images=False)``, has none).
    """

    path: Path
    num_samples: int
    geometry: Geometry
    physics: dict[str, Any] = field(repr=False)
    recon_version: str
    groups: tuple[str, ...] | None = field(default=None, repr=False)
    has_images: bool = True


def _json_attribute(h5: h5py.File, path: Path, name: str) -> Any:
    if name not in h5.attrs:
        raise ValueError(f"{path}: missing attribute {name!r}; not a recon paired file?")
    try:
        return json.loads(h5.attrs[name])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: attribute {name!r} is not valid JSON") from None


def _check_dataset(h5: h5py.File, path: Path, name: str, shape: tuple[int, ...]) -> int:
    if name not in h5:
        raise ValueError(f"{path}: missing dataset {name!r} (found {sorted(h5)})")
    data = h5[name]
    if not isinstance(data, h5py.Dataset) or data.dtype != np.float32:
        raise ValueError(f"{path}: dataset {name!r}: expected float32 data, got {getattr(data, 'dtype', data)}")
    if data.ndim != 3 or data.shape[1:] != tuple(shape):
        raise ValueError(
            f"{path}: dataset {name!r}: expected shape (N, {', '.join(map(str, shape))}) for the "
            f"file's geometry, got {data.shape}"
        )
    return data.shape[0]


def _read_groups(h5: h5py.File, path: Path, num_samples: int) -> tuple[str, ...] | None:
    """The ``groups`` dataset as a tuple of str, None if absent; raises if it is not one string per sample."""
    if "groups" not in h5:
        return None
    data = h5["groups"]
    if not isinstance(data, h5py.Dataset) or h5py.check_string_dtype(data.dtype) is None:
        raise ValueError(f"{path}: dataset 'groups': expected strings, got {getattr(data, 'dtype', data)}")
    if data.shape != (num_samples,):
        raise ValueError(f"{path}: dataset 'groups': expected shape ({num_samples},), one label per sample, "
                         f"got {data.shape}")
    return tuple(data.asstr()[...].tolist())


def inspect_paired(path: str | os.PathLike, *, require_images: bool = True) -> PairedFileInfo:
    """Validate a paired file and describe it.

    Parameters
    ----------
    path : path-like
    require_images : bool
        Refuse a file without an ``images`` dataset (default); pass False to
        accept sinogram-only files (measured data without ground truths).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Truncated or corrupt file, missing dataset or attribute, wrong dtype,
        images and sinograms of different ``N``, per-sample shapes that do
        not match the stored geometry, or group labels that are not one
        string per sample; the message names the file.
    """
    path = Path(path)
    with read_hdf5(path) as h5:
        try:
            geometry = Geometry.from_dict(_json_attribute(h5, path, "geometry"))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: invalid geometry attribute: {error}") from None
        n_sinograms = _check_dataset(h5, path, "sinograms", geometry.sinogram_shape)
        has_images = require_images or "images" in h5
        if has_images:
            n_images = _check_dataset(h5, path, "images", geometry.image_shape)
            if n_images != n_sinograms:
                raise ValueError(f"{path}: {n_images} images but {n_sinograms} sinograms")
        return PairedFileInfo(
            path=path,
            num_samples=n_sinograms,
            geometry=geometry,
            physics=_json_attribute(h5, path, "physics"),
            recon_version=str(h5.attrs.get("recon_version", "unknown")),
            groups=_read_groups(h5, path, n_sinograms),
            has_images=has_images,
        )
