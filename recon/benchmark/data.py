"""The data a benchmark runs on: built-in simulated phantoms, a recon HDF5 file or a LoDoPaB folder.

Every source becomes a :class:`BenchmarkData`: samples ``(sinogram (1, A, D),
image (1, nx, ny))``, the geometry, the dose (for the data-consistency
metric) and, where the data have them, a group label per sample for the
subgroup breakdown.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from recon.data.families import PhantomSource
from recon.data.simulated import Simulation, simulate_images
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.physics import LODOPAB_PHOTONS, MU_MAX

__all__ = ["BUILTIN_FAMILIES", "BenchmarkData", "builtin_data", "builtin_images", "open_data"]

#: Families of the built-in ground truths, taken in turn: the test families of
#: :mod:`recon.data.families` (no model of recon trains on them).
BUILTIN_FAMILIES = ("overlapping-ellipses", "shepp-logan", "forbild", "anatomy")


@dataclass(frozen=True, eq=False)
class BenchmarkData:
    """Samples to reconstruct, with what the metrics need to know about them.

    Attributes
    ----------
    name : str
        Label in tables, e.g. ``"built-in, 4096 photons"``.
    key : str
        Identifies the samples (source, size, dose, seed): finished results
        are reused on resume only for the same key.
    geometry : Geometry
        Geometry of the sinograms.
    samples : Dataset
        Items ``(sinogram (1, A, D), image (1, nx, ny))``, float32.
    photons : float or None
        ``N0`` of the post-log data, photons per bin (None: unknown, the
        data consistency is then NaN).
    mu_max : float
        Attenuation of normalised value 1, 1/m (scale of the post-log data).
    groups : tuple of str, optional
        A subgroup label per sample (phantom family, anatomy ...).
    """

    name: str
    key: str
    geometry: Geometry
    samples: Dataset
    photons: float | None = LODOPAB_PHOTONS
    mu_max: float = MU_MAX
    groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.samples) == 0:
            raise ValueError(f"{self.name}: the dataset is empty, nothing to benchmark")
        if self.groups is not None and len(self.groups) != len(self.samples):
            raise ValueError(f"{self.name}: expected one group label per sample ({len(self.samples)}), "
                             f"got {len(self.groups)}")

    def __len__(self) -> int:
        return len(self.samples)


def builtin_images(geometry: Geometry, num_samples: int, *, seed: int = 0,
                   families: Sequence[str] = BUILTIN_FAMILIES) -> tuple[np.ndarray, tuple[str, ...]]:
    """Ground truths of the built-in data and their families.

    Sample ``i`` belongs to family ``i mod F`` of ``families``
    (:class:`~recon.data.families.PhantomSource`): random families are seeded
    per sample from ``seed``, fixed phantoms repeat, and the ``anatomy``
    family takes its real CT slices in turn (it is dropped when pydicom's
    slices are not installed).

    Returns
    -------
    images : numpy.ndarray, shape (N, nx, ny), float32
    families : tuple of str, length N
    """
    from recon.data.anatomy import installed_slices

    if num_samples < 1:
        raise ValueError(f"samples: expected a positive number of built-in samples, got {num_samples}")
    families = tuple(name for name in families if name != "anatomy" or installed_slices())
    source = PhantomSource(families, geometry, seed)
    images = np.stack([source(i) for i in range(num_samples)])
    return images, tuple(source.family_of(i) for i in range(num_samples))


def builtin_data(geometry: Geometry, num_samples: int, *, photons: Sequence[float] = (LODOPAB_PHOTONS,),
                 seed: int = 0) -> list[BenchmarkData]:
    """Simulated low-dose data, one :class:`BenchmarkData` per photon count (dose sweep).

    The same ground truths (:func:`builtin_images`) are simulated at every
    dose with :func:`recon.physics.simulate` (LoDoPaB's recipe: fine grid,
    Poisson noise), each sample with the same noise seed at every dose.

    Parameters
    ----------
    geometry : Geometry
        2D geometry of the sinograms.
    num_samples : int
        Samples per dose.
    photons : sequence of float
        ``N0`` per bin of each dose level.
    seed : int
        Root seed of phantoms and noise.
    """
    if not photons or min(photons) <= 0 or len(set(photons)) != len(photons):
        raise ValueError(f"photons: expected distinct positive photon counts, got {list(photons)}")
    images, labels = builtin_images(geometry, num_samples, seed=seed)
    images_key = hashlib.sha256(images.tobytes()).hexdigest()[:16]  # which anatomy slices were installed
    A = RayTransform(geometry)
    truth = torch.from_numpy(images)[:, None]
    levels = []
    for count in photons:
        simulation = Simulation(photons=float(count), seed=seed)
        sinograms = torch.from_numpy(simulate_images(images, A, simulation, range(num_samples)))[:, None]
        levels.append(BenchmarkData(
            name=f"built-in, {count:g} photons", geometry=geometry,
            key=f"builtin:{geometry.fingerprint()}:{num_samples}:{simulation}:{images_key}",
            samples=TensorDataset(sinograms, truth), photons=float(count), mu_max=simulation.mu_max,
            groups=labels,
        ))
    return levels


def open_data(path: str | os.PathLike, *, part: str = "test", num_samples: int | None = None) -> BenchmarkData:
    """A recon paired HDF5 file or a LoDoPaB-CT folder as benchmark data.

    Parameters
    ----------
    path : path-like
        A file written by ``recon simulate`` (:class:`recon.data.PairedDataset`)
        or a folder in LoDoPaB-CT's layout (:class:`recon.data.LoDoPaB`).
    part : str
        The LoDoPaB part of a folder (``train``, ``validation``, ``test``).
    num_samples : int, optional
        Use only the first samples; more than the data hold is an error, not
        a silent truncation.

    Notes
    -----
    The dose comes from the file's physics (``photons``, ``mu_max``), LoDoPaB's
    from its recipe (4096 photons). A LoDoPaB folder holding only some of a
    part's files (say the first test files) is used as found. A recon file with
    group labels (``write_paired(..., groups=...)``, the ``groups`` dataset)
    gets a subgroup breakdown; LoDoPaB folders have none.
    """
    from recon.data import LoDoPaB, PairedDataset

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        dataset = LoDoPaB(path, part, allow_partial=True)
        photons, mu_max, name = LODOPAB_PHOTONS, MU_MAX, f"{path.name} ({part})"
    else:
        dataset = PairedDataset(path)
        # a dose range (photons_max) has no one noise level: the data consistency is then NaN
        photons = None if dataset.physics.get("photons_max") else dataset.physics.get("photons")
        mu_max = dataset.physics.get("mu_max", MU_MAX)
        name = path.name
    total = len(dataset)
    if num_samples is not None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or not 0 < num_samples <= total:
            raise ValueError(f"samples: expected 1 to the {total} samples of {path}, got {num_samples!r}")
        total = num_samples
    groups = getattr(dataset, "groups", None)
    return BenchmarkData(
        name=name, key=f"{dataset.source_id()}:{total}", geometry=dataset.geometry,
        samples=Subset(dataset, range(total)), photons=None if photons is None else float(photons),
        mu_max=float(mu_max), groups=None if groups is None else tuple(map(str, groups))[:total],
    )
