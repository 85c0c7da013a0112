"""Reconstruct a user's sinograms with any method spec, in chunks, into an array or a file.

:func:`reconstruct` returns the images; :func:`reconstruct_to_file` writes
them (recon HDF5, NIfTI, a DICOM series, 16-bit TIFF or PNG previews) and
survives interruptions: each finished chunk is saved at once in a hidden
folder next to the output, ``.NAME.resume``, so that running the same call
again after Ctrl-C, a crash or a killed job reconstructs only the chunks not
yet done. The output itself appears whole, at the end, or not at all; the
resume folder is removed once it has, and on any error other than an
interruption (bad input, a failing method), so nothing half-written stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from recon.benchmark.methods import Method, build_method, spec_parameters
from recon.export import export_format, export_images, export_path
from recon.files import atomic_path
from recon.geometry import Geometry
from recon.reconstruction.inputs import SinogramInput, open_sinograms
from recon.version import __version__

__all__ = ["IMAGES_FORMAT", "reconstruct", "reconstruct_to_file"]

#: The ``format`` attribute of recon's HDF5 files of reconstructed images.
IMAGES_FORMAT = "recon-images"
_STATE = "state.json"


def _device(device: torch.device | str) -> torch.device:
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: expected an available device, got {device!r} (torch sees no CUDA GPU)")
    return chosen


def _open(source: SinogramInput | str | os.PathLike, options: dict[str, Any]) -> SinogramInput:
    if isinstance(source, SinogramInput):
        if any(value not in (None, False) for value in options.values()):
            raise ValueError(f"{', '.join(k for k, v in options.items() if v not in (None, False))}: "
                             "already given by the SinogramInput")
        return source
    return open_sinograms(source, **options)


def _chunks(data: SinogramInput, method: Method, batch_size: int, device: torch.device,
            skip: set[int] = frozenset(), progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, images (n, nx, ny) float32)`` for each chunk of ``batch_size`` sinograms not in ``skip``."""
    from tqdm.auto import tqdm

    starts = [start for start in range(0, data.num_samples, batch_size) if start not in skip]
    for start in tqdm(starts, desc=f"reconstruct {data.name}", unit="chunk", disable=not progress,
                      file=sys.stderr):
        stop = min(start + batch_size, data.num_samples)
        y = torch.from_numpy(data.read(start, stop))[:, None].to(device)
        with torch.no_grad():
            x = method.reconstruct(y)
        expected = (stop - start, 1, *data.geometry.image_shape)
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"method {method.name}: expected images {expected} for sinograms "
                             f"{tuple(y.shape)}, got {got}")
        images = x[:, 0].detach().cpu().float().numpy()
        if not np.isfinite(images).all():
            raise ValueError(f"method {method.name}: {int((~np.isfinite(images)).sum())} NaN or infinite values "
                             f"in the images of samples {start} to {stop - 1}")
        yield start, images


def _setup(source, method: str, options: dict[str, Any], batch_size: int, device, cpu_backend: str
           ) -> tuple[SinogramInput, Method, torch.device]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    chosen = _device(device)
    data = _open(source, options)
    return data, build_method(str(method), data.geometry, cpu_backend=cpu_backend, device=chosen), chosen


def reconstruct(source: SinogramInput | str | os.PathLike, method: str, *, geometry: Geometry | None = None,
                part: str | None = None, counts: bool = False, photons: float | None = None,
                batch_size: int = 8, device: torch.device | str = "cpu", cpu_backend: str = "threads",
                progress: bool = False) -> np.ndarray:
    """Reconstruct sinograms with a method spec, into memory.

    Parameters
    ----------
    source : SinogramInput or path-like
        :func:`~recon.reconstruction.sinogram_input` of an array, or a file or
        folder for :func:`~recon.reconstruction.open_sinograms`.
    method : str
        Any spec ``recon benchmark`` accepts (:mod:`recon.benchmark.methods`):
        ``fbp``, ``tv:weight=1e-6``, ``lpd-small``, a checkpoint file,
        ``mymodule:function``, ``path/to/file.py:function``.
    geometry, part, counts, photons
        Passed to :func:`~recon.reconstruction.open_sinograms` for a path.
    batch_size : int
        Sinograms per call of the method.
    device : torch.device or str
        ``"cpu"`` or ``"cuda"`` (refused when no GPU is visible).
    cpu_backend : {"threads", "sparse"}
        CPU backend of the ray transforms.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    numpy.ndarray, shape (N, nx, ny), float32
        Normalised attenuation, x-first (``plt.imshow(x.T, origin="lower")``).

    Raises
    ------
    ValueError
        Bad input, an unknown method, a checkpoint of another geometry, or a
        method that returns the wrong shape or NaNs (the message names it).

    Examples
    --------
    >>> import numpy as np
    >>> g = Geometry.parallel(image_size=32, num_angles=30, num_detectors=47)
    >>> from recon.reconstruction import sinogram_input
    >>> reconstruct(sinogram_input(np.zeros((2, 30, 47)), g), "fbp").shape
    (2, 32, 32)
    """
    options = {"geometry": geometry, "part": part, "counts": counts, "photons": photons}
    data, built, chosen = _setup(source, method, options, batch_size, device, cpu_backend)
    images = np.empty((data.num_samples, *data.geometry.image_shape), dtype=np.float32)
    for start, chunk in _chunks(data, built, batch_size, chosen, progress=progress):
        images[start:start + len(chunk)] = chunk
    return images


def _resume_folder(output: Path, key: dict[str, Any]) -> Path:
    """The output's resume folder, emptied when it holds the chunks of another input or method."""
    folder = output.with_name(f".{output.name}.resume")
    state = folder / _STATE
    if folder.is_dir():
        try:
            same = json.loads(state.read_text()) == key
        except (OSError, ValueError):
            same = False
        if same:
            return folder
        shutil.rmtree(folder)
    folder.mkdir()
    with atomic_path(state) as temporary:
        temporary.write_text(json.dumps(key))
    return folder


def _chunk_file(folder: Path, start: int) -> Path:
    return folder / f"chunk_{start:09d}.npy"


def _write_hdf5(path: Path, folder: Path, starts: list[int], data: SinogramInput,
                attributes: dict[str, str]) -> None:
    """recon's images file (:data:`IMAGES_FORMAT`) assembled from the saved chunks, one chunk in memory at a time."""
    with h5py.File(path, "w", track_order=True) as h5:
        images = h5.create_dataset("images", shape=(data.num_samples, *data.geometry.image_shape),
                                   dtype=np.float32, chunks=(1, *data.geometry.image_shape), fletcher32=True)
        for start in starts:
            chunk = np.load(_chunk_file(folder, start), allow_pickle=False)
            images[start:start + len(chunk)] = chunk
        for name, value in attributes.items():
            h5.attrs[name] = value


@contextlib.contextmanager
def _removed_unless_interrupted(folder: Path) -> Iterator[None]:
    """Delete the resume folder on success and on errors; keep it when the run is interrupted."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)


def reconstruct_to_file(source: SinogramInput | str | os.PathLike, method: str, output: str | os.PathLike, *,
                        format: str | None = None, window: str = "soft-tissue", overwrite: bool = False,
                        geometry: Geometry | None = None, part: str | None = None, counts: bool = False,
                        photons: float | None = None, batch_size: int = 8, device: torch.device | str = "cpu",
                        cpu_backend: str = "threads", progress: bool = False) -> list[Path]:
    """Reconstruct sinograms with a method spec into a file a viewer or recon opens; resumable.

    Parameters
    ----------
    source, method, geometry, part, counts, photons, batch_size, device, cpu_backend, progress
        As :func:`reconstruct`.
    output : path-like
        The file or folder to write; its suffix chooses the format unless
        ``format`` is given: ``.h5``/``.hdf5`` (recon's images file:
        ``images (N, nx, ny)`` float32 on the normalised scale, attributes
        ``format`` = :data:`IMAGES_FORMAT`, ``geometry``, ``method``,
        ``parameters`` (JSON), ``source``, ``mu_max``, ``recon_version``),
        ``.nii.gz``, ``.dcm`` (a DICOM series' folder), ``.tif``, ``.png``
        (:func:`recon.export.export_images`).
    format : {"hdf5", "nifti", "dicom", "tiff", "png"}, optional
    window : str
        CT window of PNG previews and the display window of DICOM and NIfTI:
        ``soft-tissue``, ``lung``, ``bone``, ``brain`` or ``"W,L"`` in HU.
    overwrite : bool
        Replace an existing output (otherwise ``FileExistsError`` before any work).

    Returns
    -------
    list of pathlib.Path
        The files or folders written.

    Raises
    ------
    ValueError, FileExistsError, FileNotFoundError
        As :func:`reconstruct`, an unknown format or window, an existing
        output without ``overwrite``, a missing output folder.
    """
    from recon.plotting import ct_window

    output = Path(output)
    chosen_format = export_format(output, format)
    ct_window(window)
    if not output.parent.is_dir():
        raise FileNotFoundError(f"{output.parent}: no such folder for {output.name}")
    options = {"geometry": geometry, "part": part, "counts": counts, "photons": photons}
    data, built, chosen = _setup(source, method, options, batch_size, device, cpu_backend)
    target = export_path(output, chosen_format, data.num_samples)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: exists (pass overwrite=True / --overwrite to replace it)")
    key = {"source": data.key, "method": built.key, "batch_size": batch_size,
           "geometry": data.geometry.fingerprint(), "recon_version": __version__}
    folder = _resume_folder(output, key)
    starts = list(range(0, data.num_samples, batch_size))
    with _removed_unless_interrupted(folder):
        done = {start for start in starts if _chunk_file(folder, start).is_file()}
        for start, images in _chunks(data, built, batch_size, chosen, done, progress):
            with atomic_path(_chunk_file(folder, start)) as temporary:
                with open(temporary, "wb") as handle:
                    np.save(handle, images, allow_pickle=False)
        description = f"recon {__version__} {method}"
        metadata = {"method": str(method), "parameters": spec_parameters(str(method)), "source": data.name,
                    "recon_version": __version__, "geometry": data.geometry.to_json()}
        attributes = {"format": IMAGES_FORMAT, "mu_max": data.mu_max,
                      **{name: value if isinstance(value, str) else json.dumps(value)
                         for name, value in metadata.items()}}
        if chosen_format == "hdf5":
            with atomic_path(output, overwrite=overwrite) as temporary:
                _write_hdf5(temporary, folder, starts, data, attributes)
            return [output]
        stack = folder / "images.h5"
        _write_hdf5(stack, folder, starts, data, attributes)
        with h5py.File(stack, "r") as h5:
            return export_images(h5["images"], data.geometry, output, format=chosen_format,
                                 description=description, mu_max=data.mu_max, window=window,
                                 overwrite=overwrite, metadata=metadata)
