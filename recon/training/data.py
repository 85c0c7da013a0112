"""The training and validation datasets of a :class:`~recon.training.config.TrainingConfig`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from torch.utils.data import Dataset, Subset

from recon.geometry import Geometry
from recon.training.config import TrainingConfig, build_geometry

__all__ = ["TrainingData", "build_datasets"]


@dataclass(frozen=True)
class TrainingData:
    """The datasets of a run and what they are.

    Items are ``(sinogram (1, A, D), image (1, nx, ny))``, or ``(sinogram,)``
    for a self-supervised loss (:class:`~recon.data.datasets.SinogramsOnly`).

    Attributes
    ----------
    geometry : Geometry
    train, validation : torch.utils.data.Dataset
    physics : dict
        How the training sinograms were made (recorded in checkpoints).
    families : dict
        ``{"training": [...], "validation": [...]}``: the registered image
        families (:mod:`recon.data.families`) of each dataset, empty for a
        user's own data; recorded in checkpoints, read by benchmark protocols.
    """

    geometry: Geometry
    train: Dataset
    validation: Dataset
    physics: dict[str, Any]
    families: dict[str, list[str]]


def _limit(dataset: Dataset, count: int | None, name: str, source: object) -> Dataset:
    """The first ``count`` samples of ``dataset`` (all for None); more than it holds is an error.

    ``name`` is the config key (``data.train_samples``), ``source`` the file or folder, both for the message.
    """
    if count is None or count == len(dataset):
        return dataset
    if count > len(dataset):
        raise ValueError(f"{name}: expected at most the {len(dataset)} samples of {source}, got {count}")
    return Subset(dataset, range(count))


def _check_geometry(config: TrainingConfig, found: Geometry, what: str) -> None:
    if config.geometry is not None and build_geometry(config.geometry) != found:
        raise ValueError(f"geometry: the config's geometry differs from that of {what}; remove it or match it")


def _families(train_physics: dict[str, Any], validation_physics: dict[str, Any]) -> dict[str, list[str]]:
    """The registered families of the two datasets, checked: training ones for training, no test family."""
    from recon.data.families import check_families, recorded_families

    families = {"training": list(recorded_families(train_physics)),
                "validation": list(recorded_families(validation_physics))}
    check_families(families["training"], ("training",), "training data")
    check_families(families["validation"], ("training", "validation"), "validation data")
    return families


def _names(phantom: str | list[str]) -> str | tuple[str, ...]:
    return phantom if isinstance(phantom, str) else tuple(phantom)


def build_datasets(config: TrainingConfig) -> TrainingData:
    """Open or generate the datasets that ``config.data`` describes.

    Phantoms are simulated on the fly (train with ``data.seed``, validation
    with ``data.seed + 1``); files are opened lazily, so the datasets can
    go to ``DataLoader`` workers. With a self-supervised ``config.loss`` both
    datasets give sinograms only (:class:`~recon.data.datasets.SinogramsOnly`):
    recon files without images and LoDoPaB-CT observations without ground
    truths are accepted, and no image is read.

    Raises
    ------
    ValueError
        Training data of an evaluation family, or validation data of a test
        family (:func:`recon.data.families.check_families`), more samples
        asked for (``train_samples``, ``validation_samples``) than the files
        hold, and every inconsistency of the files. NaN / inf in a sample are
        refused when it is read (:class:`recon.data.datasets.LazyFiles`).
    """
    from recon.data.datasets import SinogramsOnly
    from recon.training.losses import SELF_SUPERVISED_LOSSES

    data = _open(config, sinograms_only=config.loss in SELF_SUPERVISED_LOSSES)
    if config.loss not in SELF_SUPERVISED_LOSSES:
        return data
    return replace(data, train=SinogramsOnly(data.train), validation=SinogramsOnly(data.validation))


def _open(config: TrainingConfig, *, sinograms_only: bool) -> TrainingData:
    """The datasets of ``config.data``; with ``sinograms_only`` files without images are accepted."""
    data = config.data
    if data.source == "phantoms":
        from recon.data.simulated import PhantomDataset, Simulation

        if config.geometry is None:
            raise ValueError("geometry: phantoms need a geometry in the config")
        geometry = build_geometry(config.geometry)
        validation_phantom = data.phantom if data.validation_phantom is None else data.validation_phantom
        physics = {"source": "phantoms", "phantom": data.phantom}
        families = _families(physics, {"phantom": validation_phantom})
        train_simulation = Simulation(photons=data.photons, photons_max=data.photons_max, seed=data.seed)
        validation_simulation = Simulation(photons=data.photons, photons_max=data.photons_max, seed=data.seed + 1)
        train = PhantomDataset(geometry, data.train_samples, phantom_name=_names(data.phantom),
                               simulation=train_simulation)
        validation = PhantomDataset(geometry, data.validation_samples, phantom_name=_names(validation_phantom),
                                    simulation=validation_simulation)
        return TrainingData(geometry, train, validation, {**physics, **train_simulation.to_dict()}, families)
    if data.source == "hdf5":
        from recon.data.datasets import PairedDataset

        train = PairedDataset(data.train, num_angles=data.num_angles, require_images=not sinograms_only)
        validation = PairedDataset(data.validation, num_angles=data.num_angles, require_images=not sinograms_only)
        if validation.geometry != train.geometry:
            raise ValueError(f"{data.validation}: its geometry differs from that of {data.train}")
        families = _families(train.physics, validation.physics)
        physics = {"source": "hdf5", "file": str(data.train), **train.physics}
    else:
        from recon.data.lodopab import LoDoPaB
        from recon.physics import LODOPAB_FINE_FACTOR, LODOPAB_PHOTONS, MU_MAX

        image_size = build_geometry(config.geometry).image_shape[0] if sinograms_only and config.geometry else None
        parts = {"num_angles": data.num_angles, "observations_only": sinograms_only, "image_size": image_size}
        train = LoDoPaB(data.train, "train", **parts)
        validation = LoDoPaB(data.train, "validation", **parts)
        physics = {"source": "lodopab", "folder": str(data.train), "photons": LODOPAB_PHOTONS,
                   "factor": LODOPAB_FINE_FACTOR, "mu_max": MU_MAX}
        families = {"training": [], "validation": []}
    _check_geometry(config, train.geometry, data.train)
    validation_source = data.validation if data.source == "hdf5" else f"{data.train} (validation part)"
    return TrainingData(train.geometry, _limit(train, data.train_samples, "data.train_samples", data.train),
                        _limit(validation, data.validation_samples, "data.validation_samples", validation_source),
                        physics, families)
