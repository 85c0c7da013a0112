"""Training configuration: frozen dataclasses read from YAML, with ``key=value`` overrides.

A protocol file (``experiments/*.yaml``) looks like::

    model: lpd
    model_args: {iterations: 10, initialization: fbp}
    geometry: {preset: lodopab_small}        # 128x128, 360 angles, 183 bins
    data: {source: phantoms, train_samples: 2048, validation_samples: 64, photons: 4096}
    epochs: 20
    batch_size: 8
    learning_rate: 1.0e-4
    output_dir: outputs/lpd_small

Every key of :class:`TrainingConfig` and :class:`DataConfig` may appear;
unknown keys are errors, not silently ignored. ``inherit: other.yaml`` (a
path relative to the file) reads that file first and lays this one over it,
section by section, so a protocol (geometry, physics, data) is written once
and shared by the models trained on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from recon.geometry import Geometry
from recon.models.base import CpuBackend, CudaBackend
from recon.training.losses import SELF_SUPERVISED_LOSSES, Loss

__all__ = ["DataConfig", "TrainingConfig", "load_config", "apply_overrides", "build_geometry"]

DataSource = Literal["phantoms", "hdf5", "lodopab"]
Device = Literal["auto", "cpu", "cuda"]
_PRESETS = ("parallel", "fan", "lodopab", "lodopab_small")


def _check_choice(name: str, value: Any, options: type) -> None:
    if value not in get_args(options):
        raise ValueError(f"{name}: expected one of {get_args(options)}, got {value!r}")


def _check_positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"{name}: expected a positive number, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where the training and validation pairs come from.

    Parameters
    ----------
    source : {"phantoms", "hdf5", "lodopab"}
        ``phantoms``: simulated on the fly, reproducibly (train with ``seed``,
        validation with ``seed + 1``); ``hdf5``: recon paired files ``train``
        and ``validation``; ``lodopab``: the folder ``train`` in LoDoPaB-CT's
        layout (parts ``train`` and ``validation``).
    train, validation : str, optional
        Paths (see ``source``).
    train_samples, validation_samples : int, optional
        Number of samples; required for phantoms, else a limit (the first ones).
    num_angles : int, optional
        Files only: train on this many of the files' angles, every
        ``A / num_angles``-th (sparse view; a divisor of the files' angle count).
    phantom : str or list of str
        Training family (families, taken in turn) of ``source="phantoms"``:
        a ``training`` family of :data:`recon.data.families.FAMILIES`.
    validation_phantom : str or list of str, optional
        Validation family of ``source="phantoms"`` (default ``phantom``): a
        ``training`` or ``validation`` family, never a test family.
    photons : float
        Photons per detector bin of the simulation (LoDoPaB-CT: 4096); the
        lowest of a dose range with ``photons_max``.
    photons_max : float, optional
        Simulated phantoms only: each sample's dose is drawn log-uniformly
        from ``[photons, photons_max]`` (:class:`recon.data.simulated.Simulation`).
    seed : int
        Root seed of the simulated samples.
    """

    source: DataSource = "phantoms"
    train: str | None = None
    validation: str | None = None
    train_samples: int | None = None
    validation_samples: int | None = None
    num_angles: int | None = None
    phantom: str | list[str] = "ellipses"
    validation_phantom: str | list[str] | None = None
    photons: float = 4096
    photons_max: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice("data.source", self.source, DataSource)
        _check_positive(**{"data.train_samples": self.train_samples, "data.num_angles": self.num_angles,
                           "data.validation_samples": self.validation_samples, "data.photons": self.photons})
        if self.source == "phantoms" and self.num_angles is not None:
            raise ValueError("data.num_angles: for files only; give phantoms a sparse-view geometry instead")
        if self.source == "phantoms" and (self.train_samples is None or self.validation_samples is None):
            raise ValueError("data: phantoms need train_samples and validation_samples")
        if self.source == "hdf5" and (self.train is None or self.validation is None):
            raise ValueError("data: source 'hdf5' needs the paths train and validation")
        if self.source == "lodopab" and self.train is None:
            raise ValueError("data: source 'lodopab' needs train, the LoDoPaB folder")


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Everything that defines a training run (recorded in its checkpoints).

    Parameters
    ----------
    model : str
        Registered model name (see :data:`recon.models.MODELS`).
    model_args : dict
        Constructor arguments of the model, besides ``geometry``, ``cpu_backend`` and ``cuda_backend``.
    geometry : dict, optional
        ``{"preset": "parallel" | "fan" | "lodopab" | "lodopab_small", **arguments}`` for the
        :class:`~recon.Geometry` class method, or a ``Geometry.to_dict()``.
        Required for phantoms; for files it defaults to (and must equal) theirs.
    data : DataConfig
    epochs : int
    batch_size : int
        Global batch: split evenly over the processes of a distributed run.
    loss : {"mse", "psnr", "noise2inverse", "sure", "ei"}
        What a step minimises. Supervised
        (:func:`~recon.training.losses.training_loss`): the batch's mean
        squared error, or the mean over its images of ``10 log10`` of their
        mean squared error (minus the mean PSNR). Self-supervised, from the
        sinograms alone (:func:`~recon.training.losses.self_supervised_loss`):
        Noise2Inverse (post-processing models), SURE, Equivariant Imaging;
        files without images are then accepted, and no image is read.
    loss_args : dict
        Keyword arguments of a self-supervised loss (``subsets: 4``;
        ``weighting``, ``tau``; ``weight``, ``data_term``).
    learning_rate, min_learning_rate : float
        Adam's rate, annealed by a cosine over all steps down to the minimum.
    weight_decay : float
    grad_clip_norm : float, optional
        Clip the global gradient norm to this; ``None`` disables clipping.
    mixed_precision : bool
        float16 autocast and gradient scaling; takes effect on CUDA only.
    seed : int
        Seeds model initialisation and data order.
    num_workers : int
        ``DataLoader`` worker processes per training process.
    cpu_backend : {"threads", "sparse", "auto"}
        Ray-transform backend on CPU (``sparse`` is fastest for small geometries).
    cuda_backend : {"astra", "sparse"}
        Ray-transform backend on CUDA (``sparse``: the CPU projector's exact
        matrix, so that a GPU run trains with the CPU runs' operator).
    device : {"auto", "cpu", "cuda"}
    output_dir : str
        Folder of checkpoints and logs.
    validate_every : int, optional
        Also validate every this many steps inside an epoch, keeping the
        best checkpoint of all validations (for runs of one long epoch); by
        default only after every epoch.
    state_every : int, optional
        Also write the training state every this many steps, so that a run
        resumes inside a long epoch; by default only after every epoch.
    progress : bool
        Show a progress bar (rank 0 only).
    """

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None
    data: DataConfig
    epochs: int = 10
    batch_size: int = 8
    loss: Loss = "mse"
    loss_args: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 1e-3
    min_learning_rate: float = 0.0
    weight_decay: float = 0.0
    grad_clip_norm: float | None = 1.0
    mixed_precision: bool = True
    seed: int = 0
    num_workers: int = 0
    cpu_backend: CpuBackend = "sparse"
    cuda_backend: CudaBackend = "astra"
    device: Device = "auto"
    output_dir: str = "outputs/train"
    validate_every: int | None = None
    state_every: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        _check_positive(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                        grad_clip_norm=self.grad_clip_norm, state_every=self.state_every,
                        validate_every=self.validate_every)
        if not isinstance(self.epochs, int) or not isinstance(self.batch_size, int):
            raise ValueError(f"epochs, batch_size: expected integers, got {self.epochs!r}, {self.batch_size!r}")
        if self.min_learning_rate < 0 or self.weight_decay < 0 or self.num_workers < 0:
            raise ValueError("min_learning_rate, weight_decay, num_workers: expected non-negative values")
        _check_choice("loss", self.loss, Loss)
        if self.loss_args and self.loss not in SELF_SUPERVISED_LOSSES:
            raise ValueError(f"loss_args: for the self-supervised losses {SELF_SUPERVISED_LOSSES}; "
                             f"{self.loss!r} takes none, got {sorted(self.loss_args)}")
        _check_choice("cpu_backend", self.cpu_backend, CpuBackend)
        _check_choice("cuda_backend", self.cuda_backend, CudaBackend)
        _check_choice("device", self.device, Device)
        reserved = {"geometry", "cpu_backend", "cuda_backend"} & set(self.model_args)
        if reserved:
            raise ValueError(f"model_args: {sorted(reserved)} are set by the training config itself")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Build from nested dicts; unknown keys raise ``ValueError`` naming them."""
        _check_keys(data, cls, "config")
        data = dict(data)
        data_section = data.get("data") or {}
        if not isinstance(data_section, dict):
            raise ValueError(f"data: expected a mapping, got {data_section!r}")
        _check_keys(data_section, DataConfig, "data")
        data["data"] = DataConfig(**data_section)
        if "model" not in data:
            raise ValueError("config: missing the required key 'model'")
        return cls(**data)


def _check_keys(data: Any, cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(known)}")


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a number (YAML 1.2) rather than a string."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml_text(text: str) -> Any:
    """Parse YAML safely (no object construction), with YAML 1.2 numbers like ``1e-3``."""
    return yaml.load(text, Loader=_YamlLoader)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of nested ``data`` with ``"a.b=value"`` overrides applied (values parsed as YAML)."""
    result = yaml.safe_load(yaml.safe_dump(data))
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected key=value (e.g. epochs=5 or data.seed=1), got {override!r}")
        *parents, leaf = key.strip().split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {override!r}: {part!r} is not a section")
        node[leaf] = read_yaml_text(text)
    return result


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``layer`` laid over it; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in layer.items():
        both_mappings = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both_mappings else value
    return merged


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML mapping with its ``inherit`` chain resolved."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    if path.resolve() in chain:
        raise ValueError(f"{path}: inherits from itself through {[str(p) for p in chain]}")
    try:
        data = read_yaml_text(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: expected a YAML config in UTF-8 text, got a byte {error.object[error.start]:#04x} "
                         f"that is not UTF-8 at offset {error.start}") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:  # bad dates, deep nesting too
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(error).split()) or type(error).__name__}") from None
    if data is None:
        raise ValueError(f"{path}: expected a YAML mapping of config keys (model, data, epochs ...), "
                         "got an empty file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    return _merge(_read_yaml(path.parent / str(parent), (*chain, path.resolve())), data)


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainingConfig:
    """Read a YAML protocol file (and what it inherits) and apply ``key=value`` overrides.

    Raises
    ------
    FileNotFoundError
        No such file (or inherited file).
    ValueError
        Not UTF-8, not YAML, empty, not a mapping, or entries a config cannot
        have; the message starts with the file's name.
    """
    data = apply_overrides(_read_yaml(Path(path)), overrides)
    try:
        return TrainingConfig.from_dict(data)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None


def build_geometry(description: dict[str, Any]) -> Geometry:
    """A Geometry from ``{"preset": ..., **arguments}`` or from a ``Geometry.to_dict()``."""
    description = dict(description)
    preset = description.pop("preset", None)
    if preset is None:
        return Geometry.from_dict(description)
    if preset not in _PRESETS:
        raise ValueError(f"geometry.preset: expected one of {_PRESETS}, got {preset!r}")
    return getattr(Geometry, preset)(**description)
