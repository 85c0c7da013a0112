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

from recon.data.phantoms import phantom
from recon.data.simulated import Simulation, sample_seeds, simulate_images
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.physics import LODOPAB_PHOTONS, MU_MAX

__all__ = ["ANATOMY_SLICES", "BUILTIN_FAMILIES", "BenchmarkData", "anatomy_slices", "builtin_data", "builtin_images",
           "open_data"]

#: Families of the built-in ground truths, taken in turn; ``anatomy`` cycles
#: through the real CT slices of :data:`ANATOMY_SLICES` that are installed.
BUILTIN_FAMILIES = ("ellipses", "shepp-logan", "forbild", "anatomy")

#: Real CT slices of the ``anatomy`` family, in this order: two of pydicom's
#: own test files and two of the pydicom-data package's (a dependency), read
#: from the installed packages (never downloaded). Evaluation data only: no
#: model of recon trains on them.
ANATOMY_SLICES = (
    "CT_small.dcm",               # pydicom: 128 x 128 pixels of 0.66 mm, 8.5 cm across
    "J2K_pixelrep_mismatch.dcm",  # pydicom: a head at the skull base (JPEG 2000)
    "693_UNCI.dcm",               # pydicom-data: a head
    "explicit_VR-UN.dcm",         # pydicom-data: an abdomen wider than the field, as in LoDoPaB-CT's crops
)


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


def anatomy_slices(geometry: Geometry) -> list[np.ndarray]:
    """The installed slices of :data:`ANATOMY_SLICES` on the geometry's grid.

    Each is resampled keeping its physical size (``fit="resample"`` of
    :func:`recon.data.dicom.fit_to_grid`), centred, with air around it or cut
    at the field's edges.

    Returns
    -------
    list of numpy.ndarray, each (nx, ny) float32
        In the order of :data:`ANATOMY_SLICES`, skipping files that are not
        installed (all of them without pydicom).
    """
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return []
    from recon.data.dicom import load_dicom

    paths = [get_testdata_file(name, download=False) for name in ANATOMY_SLICES]
    return [load_dicom(path, geometry, fit="resample")[0] for path in paths if path is not None]


def builtin_images(geometry: Geometry, num_samples: int, *, seed: int = 0) -> tuple[np.ndarray, tuple[str, ...]]:
    """Ground truths of the built-in data and their families.

    Sample ``i`` belongs to family ``i mod F`` of :data:`BUILTIN_FAMILIES`
    (``anatomy`` dropped when no slice is installed); random ellipses are
    seeded per sample from ``seed``, Shepp-Logan and FORBILD are fixed images
    and the ``k``-th anatomy sample is slice ``k mod S`` of
    :func:`anatomy_slices`.

    Returns
    -------
    images : numpy.ndarray, shape (N, nx, ny), float32
    families : tuple of str, length N
    """
    if num_samples < 1:
        raise ValueError(f"samples: expected a positive number of built-in samples, got {num_samples}")
    anatomy = anatomy_slices(geometry)
    families = [family for family in BUILTIN_FAMILIES if family != "anatomy" or anatomy]
    labels = tuple(families[i % len(families)] for i in range(num_samples))
    fixed = {name: phantom(name, geometry) for name in ("shepp-logan", "forbild") if name in labels}
    images = []
    for i, label in enumerate(labels):
        if label == "ellipses":
            images.append(phantom("ellipses", geometry, seed=sample_seeds(seed, i)[0]))
        elif label == "anatomy":
            images.append(anatomy[(i // len(families)) % len(anatomy)])
        else:
            images.append(fixed[label])
    return np.stack(images).astype(np.float32), labels


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
        Use only the first samples.

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
        photons, mu_max = dataset.physics.get("photons"), dataset.physics.get("mu_max", MU_MAX)
        name = path.name
    total = len(dataset)
    if num_samples is not None:
        if num_samples < 1:
            raise ValueError(f"samples: expected a positive number, got {num_samples}")
        total = min(total, num_samples)
    groups = getattr(dataset, "groups", None)
    return BenchmarkData(
        name=name, key=f"{dataset.source_id()}:{total}", geometry=dataset.geometry,
        samples=Subset(dataset, range(total)), photons=None if photons is None else float(photons),
        mu_max=float(mu_max), groups=None if groups is None else tuple(map(str, groups))[:total],
    )
