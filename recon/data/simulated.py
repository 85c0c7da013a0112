"""Reproducible simulated pairs: per-sample seeds, split files and an on-the-fly dataset.

Sample ``i`` of stream ``s`` (a split) under seed ``seed`` always gets the same
phantom and the same noise, whatever the batch size, worker count or order
of generation: both seeds derive from ``numpy.random.SeedSequence([seed, s, i])``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from recon.checks import check_number
from recon.data.datasets import InputTransform, PairedData
from recon.data.families import PhantomName, PhantomSource
from recon.data.hdf5 import PairedWriter
from recon.data.seeds import dose_seed, sample_seeds
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.physics import LODOPAB_FINE_FACTOR, LODOPAB_PHOTONS, MU_MAX, check_photons, simulate

__all__ = ["Simulation", "sample_seeds", "PhantomSource", "simulate_images", "simulate_into", "PhantomDataset"]


@dataclass(frozen=True, kw_only=True)
class Simulation:
    """Parameters of :func:`recon.simulate`, recorded in every file it produces.

    Parameters
    ----------
    photons : float
        ``N0``, photons per bin of the unattenuated beam (the lowest of a
        dose range).
    photons_max : float, optional
        A dose range: each sample's ``N0`` is drawn log-uniformly from
        ``[photons, photons_max]`` (:meth:`sample_photons`, seeded per
        sample), so one dataset holds many doses.
    factor : float
        Fine-grid refinement of the forward projection.
    electronic_noise : float
        Standard deviation of additive Gaussian noise, in photons.
    mu_max : float
        Attenuation of normalised value 1, 1/m.
    seed : int
        Root seed of the per-sample seeds.
    """

    photons: float = LODOPAB_PHOTONS
    photons_max: float | None = None
    factor: float = LODOPAB_FINE_FACTOR
    electronic_noise: float = 0.0
    mu_max: float = MU_MAX
    seed: int = 0

    def __post_init__(self) -> None:
        check_photons("photons", self.photons)
        if self.photons_max is not None:
            check_photons("photons_max", self.photons_max)
            check_number("photons_max", self.photons_max, at_least=self.photons)
        check_number("factor", self.factor, at_least=1)
        check_number("electronic_noise", self.electronic_noise, at_least=0)
        check_number("mu_max", self.mu_max, above=0)

    def to_dict(self) -> dict:
        return asdict(self)

    def sample_photons(self, indices: Iterable[int], *, stream: int = 0) -> list[float]:
        """``N0`` of each sample: ``photons``, or a log-uniform draw seeded by :func:`~recon.data.seeds.dose_seed`."""
        if self.photons_max is None:
            return [float(self.photons) for _ in indices]
        low, high = math.log(self.photons), math.log(self.photons_max)
        return [math.exp(np.random.default_rng(dose_seed(self.seed, i, stream=stream)).uniform(low, high))
                for i in indices]


def simulate_images(
    images: np.ndarray, A: RayTransform, simulation: Simulation, indices: Iterable[int], *, stream: int = 0
) -> np.ndarray:
    """Noisy post-log sinograms of a batch of images, each with its own seed.

    Parameters
    ----------
    images : numpy.ndarray, shape (b, nx, ny)
        Normalised attenuation, x-first.
    A : RayTransform
        Operator of the images' grid.
    simulation : Simulation
    indices : iterable of int
        Sample index of each image (seeds its noise through :func:`sample_seeds`).
    stream : int
        Stream (split) number of the seeds.

    Returns
    -------
    numpy.ndarray, shape (b, num_angles, num_detectors), float32
    """
    indices = list(indices)
    seeds = [sample_seeds(simulation.seed, i, stream=stream)[1] for i in indices]
    # one scalar N0 without a dose range: the same bytes as before ranges existed
    photons = simulation.photons if simulation.photons_max is None else simulation.sample_photons(indices, stream=stream)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    y = simulate(x, A, photons, seed=seeds, factor=simulation.factor,
                 electronic_noise=simulation.electronic_noise, mu_max=simulation.mu_max)
    return y[:, 0].numpy()


def simulate_into(
    writer: PairedWriter,
    image_source: Callable[[int], np.ndarray],
    *,
    simulation: Simulation,
    stream: int = 0,
    batch_size: int = 16,
    progress: Callable[[int], object] | None = None,
) -> None:
    """Fill an open :class:`~recon.data.hdf5.PairedWriter` with simulated pairs.

    Parameters
    ----------
    writer : PairedWriter
        Open writer; all its ``num_samples`` samples are written.
    image_source : callable
        ``image_source(i)`` returns ground truth ``i``, shape ``(nx, ny)``.
    simulation : Simulation
    stream : int
        Seed stream (one per split).
    batch_size : int
        Images projected together (threads of the ray transform).
    progress : callable, optional
        Called with the number of samples finished after each batch.
    """
    A = RayTransform(writer.geometry)
    for start in range(0, writer.num_samples, batch_size):
        indices = range(start, min(start + batch_size, writer.num_samples))
        images = np.stack([image_source(i) for i in indices])
        sinograms = simulate_images(images, A, simulation, indices, stream=stream)
        writer.write(start, images if writer.with_images else None, sinograms)
        if progress is not None:
            progress(len(indices))


class PhantomDataset(PairedData):
    """Phantom pairs generated on the fly, reproducibly (nothing on disk).

    Sample ``i`` is the same in every epoch, process and worker: its phantom
    and its noise are seeded by :func:`sample_seeds` ``(simulation.seed, i)``,
    exactly as sample ``i`` of the train split of ``recon simulate``.

    Parameters
    ----------
    geometry : Geometry
        2D acquisition geometry.
    num_samples : int
        Length of the dataset.
    phantom_name : str or tuple of str
        Family (or families, taken in turn) of :data:`recon.data.families.FAMILIES`.
    simulation : Simulation
        Dose and noise.
    input_transform, cache_inputs, batch_size
        As in :class:`~recon.data.datasets.PairedDataset`.

    Examples
    --------
    >>> g = Geometry.parallel(image_size=64, num_angles=60, num_detectors=91)
    >>> sinogram, image = PhantomDataset(g, 10)[3]
    >>> tuple(sinogram.shape), tuple(image.shape)
    ((1, 60, 91), (1, 64, 64))
    """

    def __init__(
        self,
        geometry: Geometry,
        num_samples: int,
        *,
        phantom_name: PhantomName | tuple[str, ...] = "ellipses",
        simulation: Simulation = Simulation(),
        input_transform: InputTransform | None = None,
        cache_inputs: str | os.PathLike | None = None,
        batch_size: int = 16,
    ) -> None:
        self.geometry = geometry
        self.num_samples = int(num_samples)
        self.phantom_name = phantom_name
        self.simulation = simulation
        self._operator = RayTransform(geometry)
        self.image = PhantomSource(phantom_name, geometry, simulation.seed)
        self._setup_inputs(input_transform, cache_inputs, batch_size)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image = self.image(index)
        return simulate_images(image[None], self._operator, self.simulation, [index])[0], image

    def source_id(self) -> str:
        return f"phantoms:{self.phantom_name}:{self.num_samples}:{self.geometry.fingerprint()}:{self.simulation}"
