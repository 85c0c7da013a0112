"""Torch datasets of paired ``(sinogram, image)`` samples.

Every dataset here returns ``(input, image)`` with ``input`` the sinogram
``(1, num_angles, num_detectors)`` -- or, with an ``input_transform`` such as
an FBP, its result ``(1, nx, ny)`` -- and ``image`` the ground truth
``(1, nx, ny)``, float32 tensors, x-first.

HDF5 files are opened lazily, once per process, on first access: a dataset
can be handed to a ``DataLoader`` with ``num_workers > 0`` (fork, spawn or
forkserver); no file handle is ever pickled.

FBP inputs for post-processing networks: recon's datasets do not import a
reconstruction algorithm; pass any callable mapping sinograms
``(B, 1, A, D)`` to images ``(B, 1, nx, ny)``, e.g.
``input_transform=lambda y: recon.fbp(y, A)``, and optionally
``cache_inputs="train_fbp.h5"`` to compute it once for the whole dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from recon.checks import check_finite
from recon.data.hdf5 import HDF5_ERRORS, create_sample_dataset, inspect_paired, open_hdf5
from recon.data.hdf5_guard import check_storage
from recon.files import atomic_path
from recon.geometry import Geometry

__all__ = ["InputTransform", "LazyFiles", "PairedData", "PairedDataset", "SinogramsOnly", "angle_step"]

#: Maps sinograms ``(B, 1, A, D)`` to network inputs ``(B, 1, nx, ny)`` (e.g. an FBP).
InputTransform = Callable[[Tensor], Tensor]


def angle_step(geometry: Geometry, num_angles: int | None) -> int:
    """Step of the sparse-view subset keeping ``num_angles`` of the geometry's angles.

    Raises
    ------
    ValueError
        If ``num_angles`` does not divide the number of angles.
    """
    full = geometry.num_angles
    if num_angles is None:
        return 1
    if not isinstance(num_angles, (int, np.integer)) or num_angles < 1 or full % num_angles:
        raise ValueError(f"num_angles: expected a divisor of {full}, got {num_angles!r}")
    return full // num_angles


class LazyFiles:
    """Read-only HDF5 handles opened on first use in each process.

    Pickling (to a ``DataLoader`` worker) drops the handles; a forked child
    that inherits open handles reopens its own.
    """

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._files: dict[Path, h5py.File] = {}
        self._datasets: dict[tuple[Path, str], h5py.Dataset] = {}

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def read(self, path: Path, name: str, index: int, step: int = 1) -> np.ndarray:
        """``file[name][index, ::step]`` as float32, errors naming the file and sample.

        Raises
        ------
        ValueError
            An unreadable (corrupt) chunk, or NaN / inf values in the sample
            (:func:`recon.checks.check_finite`: their count and the first's index).
        """
        if self._pid != os.getpid():
            self.__init__()
        key = (path, name)
        if path not in self._files:
            self._files[path] = open_hdf5(path)
        try:
            if key not in self._datasets:
                dataset = self._files[path][name]
                check_storage(dataset, path)
                self._datasets[key] = dataset
            # a plain index takes h5py's fast path; a strided slice only for sparse view
            data = self._datasets[key][index] if step == 1 else self._datasets[key][index, ::step]
        except HDF5_ERRORS as error:
            if str(path) in str(error):  # check_storage's own message
                raise
            raise ValueError(f"{path}: cannot read sample {index} of {name!r} (corrupt?): {error}") from None
        data = np.asarray(data, dtype=np.float32)
        check_finite(data, f"{path}: dataset {name!r}, sample {index}")
        return data

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        self._datasets.clear()


class PairedData(Dataset):
    """Base of recon's paired datasets: indexing, input transform and input cache.

    Subclasses set :attr:`geometry` and :attr:`num_samples` and implement
    :meth:`read` and :meth:`source_id`, then call :meth:`_setup_inputs`.
    """

    geometry: Geometry
    num_samples: int

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` as ``(sinogram (A, D), image (nx, ny))`` float32 arrays."""
        raise NotImplementedError

    def read_sinogram(self, index: int) -> np.ndarray:
        """The sinogram ``(A, D)`` of sample ``index`` alone (file datasets do not read the image)."""
        return self.read(index)[0]

    def source_id(self) -> str:
        """A string that changes when the underlying data change (keys the input cache)."""
        raise NotImplementedError

    def _setup_inputs(
        self, input_transform: InputTransform | None, cache_inputs: str | os.PathLike | None, batch_size: int
    ) -> None:
        if cache_inputs is not None and input_transform is None:
            raise ValueError("cache_inputs needs an input_transform to cache")
        self.input_transform = input_transform
        self.cache_path = None if cache_inputs is None else Path(cache_inputs)
        self._files = LazyFiles()
        if self.cache_path is not None:
            if not self.cache_path.exists():
                self._compute_cache(batch_size)
            self._check_cache()

    def _compute_cache(self, batch_size: int) -> None:
        with atomic_path(self.cache_path) as temporary, h5py.File(temporary, "w") as h5:
            inputs = create_sample_dataset(h5, "inputs", (self.num_samples, *self.geometry.image_shape))
            h5.attrs["source"] = self.source_id()
            for start in range(0, self.num_samples, batch_size):
                stop = min(start + batch_size, self.num_samples)
                sinograms = np.stack([self.read(i)[0] for i in range(start, stop)])
                inputs[start:stop] = self._transform(torch.from_numpy(sinograms)[:, None])[:, 0].numpy()

    def _check_cache(self) -> None:
        with open_hdf5(self.cache_path) as h5:
            expected = (self.num_samples, *self.geometry.image_shape)
            shape = h5["inputs"].shape if "inputs" in h5 else None
            if shape != expected or h5.attrs.get("source") != self.source_id():
                raise ValueError(
                    f"{self.cache_path}: input cache of other data (shape {shape}, source "
                    f"{h5.attrs.get('source')!r}; expected {expected}, {self.source_id()!r}); delete it"
                )

    def _transform(self, sinograms: Tensor) -> Tensor:
        with torch.no_grad():
            inputs = self.input_transform(sinograms)
        expected = (len(sinograms), 1, *self.geometry.image_shape)
        if tuple(inputs.shape) != expected:
            raise ValueError(f"input_transform: expected an output of shape {expected}, got {tuple(inputs.shape)}")
        return inputs.detach().float().cpu()

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        """``(input, image)``: input ``(1, A, D)`` or ``(1, nx, ny)``, image ``(1, nx, ny)``."""
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index = int(index) % self.num_samples
        sinogram, image = self.read(index)
        image = torch.from_numpy(image)[None]
        if self.cache_path is not None:
            return torch.from_numpy(self._files.read(self.cache_path, "inputs", index))[None], image
        sinogram = torch.from_numpy(sinogram)[None]
        if self.input_transform is None:
            return sinogram, image
        return self._transform(sinogram[None])[0], image

    def close(self) -> None:
        """Close this process's file handles (they reopen on the next access)."""
        self._files.close()


class PairedDataset(PairedData):
    """Samples of one recon paired HDF5 file (see :mod:`recon.data.hdf5`).

    Parameters
    ----------
    path : path-like
        A file written by :class:`~recon.data.hdf5.PairedWriter` or ``recon simulate``.
    num_angles : int, optional
        Sparse view: keep ``num_angles`` equally spaced angles (every
        ``full // num_angles``-th, starting with the first); must divide the
        file's number of angles. Default: all.
    input_transform : callable, optional
        Maps sinograms ``(B, 1, A, D)`` to inputs ``(B, 1, nx, ny)``, e.g.
        ``lambda y: recon.fbp(y, A)``; then items are ``(input, image)``.
    cache_inputs : path-like, optional
        HDF5 file holding ``input_transform`` of every sample: computed once
        (in batches of ``batch_size``) when absent, read afterwards. It is keyed
        by the source file's path, size and modification time, not by the
        transform: use one cache file per transform.
    batch_size : int
        Batch size of the cache computation.
    require_images : bool
        Refuse a file without images (default). With False a sinogram-only
        file (``recon simulate --no-images``, measured data) opens too; its
        samples are then read through :class:`SinogramsOnly`.

    Attributes
    ----------
    geometry : Geometry
        The file's geometry, with the angle subset applied.
    physics : dict
        Simulation parameters stored in the file.
    groups : tuple of str or None
        The subgroup label of each sample (the file's ``groups`` dataset), or
        None if the file has none.
    has_images : bool
        Whether the file holds ground-truth images.

    Raises
    ------
    FileNotFoundError, ValueError
        From :func:`~recon.data.hdf5.inspect_paired`: the file is checked when
        the dataset is built, not at the first sample.

    Examples
    --------
    >>> ds = PairedDataset("train.h5")  # doctest: +SKIP
    >>> sinogram, image = ds[0]  # (1, A, D), (1, nx, ny)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_angles: int | None = None,
        input_transform: InputTransform | None = None,
        cache_inputs: str | os.PathLike | None = None,
        batch_size: int = 16,
        require_images: bool = True,
    ) -> None:
        info = inspect_paired(path, require_images=require_images)
        self.has_images = info.has_images
        self.path = info.path
        self._step = angle_step(info.geometry, num_angles)
        self.geometry = info.geometry.angle_subset(self._step)
        self.physics = info.physics
        self.groups = info.groups
        self.num_samples = info.num_samples
        self._setup_inputs(input_transform, cache_inputs, batch_size)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_images:
            raise ValueError(f"{self.path}: holds sinograms only (no 'images' dataset); "
                             "read it through SinogramsOnly, or train it with a self-supervised loss")
        return self.read_sinogram(index), self._files.read(self.path, "images", index)

    def read_sinogram(self, index: int) -> np.ndarray:
        return self._files.read(self.path, "sinograms", index, self._step)

    def source_id(self) -> str:
        stat = self.path.stat()
        return f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{self.geometry.fingerprint()}"


class SinogramsOnly(Dataset):
    """The sinograms of a dataset without its images: items ``(sinogram (1, A, D),)``.

    What self-supervised training reads: the images of ``dataset`` (if it
    has any) are never read from disk, and never reach the model or the loss.

    Parameters
    ----------
    dataset : PairedData or torch.utils.data.Subset of one
        A recon file (also one without images), a LoDoPaB-CT part (also
        observations alone) or simulated phantoms.

    Attributes
    ----------
    geometry : Geometry
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._base = dataset.dataset if isinstance(dataset, Subset) else dataset
        self._indices = dataset.indices if isinstance(dataset, Subset) else None
        self.geometry = self._base.geometry

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index = int(index) % len(self)
        index = index if self._indices is None else int(self._indices[index])
        return (torch.from_numpy(self._base.read_sinogram(index))[None],)

