"""Reconstructors of a benchmark, built from text specs.

A spec names one reconstructor and optionally its parameters,
``name[:key=value,key=value...]``:

* a classical method of :data:`recon.algorithms.METHODS` -- ``fbp``,
  ``fbp:filter=hann,frequency_scaling=0.641``, ``sirt:iterations=100``,
  ``cgls:iterations=30``, ``tv:weight=0.1,iterations=200``, ``landweber``;
* a peer of :data:`recon.benchmark.peers.PEERS`: ``odl-fbp[:filter=...,
  frequency_scaling=...]`` (ODL 1.0's ``fbp_op``) or ``deepinv-fbp``
  (DeepInverse's ``Tomography`` FBP, where deepinv imports);
* a method of your own, ``module:function[:key=value,...]`` or
  ``path/to/file.py:function[:...]`` (:mod:`recon.benchmark.custom`);
* a checkpoint file or the name of shipped weights (``lpd-small`` ...),
  loaded by :func:`recon.training.checkpoint.load_model`; it must have been
  trained on the data's geometry;
* ``dip-tv[:key=value,...]``: Deep Image Prior + TV, an untrained U-Net
  fitted to each sinogram (:func:`recon.training.dip.dip_tv`: ``iterations``,
  ``learning_rate``, ``scales``, ``channels``, ``seed``, ``discrepancy``);
* ``adapt:MODEL[:key=value,...]``: that learned model fine-tuned by a
  self-supervised loss on each batch of sinograms it reconstructs, from its
  stored weights every time (:func:`recon.training.adaptation.adapt`:
  ``steps``, ``loss``, ``learning_rate``, ``batch_size``, ``seed`` and the
  loss's options), e.g. ``adapt:lpd-small:steps=30``.

Values are parsed as int, float or ``true``/``false`` where they read as one,
else kept as strings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from recon.algorithms import METHODS, BoundMethod
from recon.benchmark.custom import build_custom, is_custom, split_custom
from recon.benchmark.peers import PEERS
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.operators.ray_transform import CpuBackend

__all__ = ["ADAPT", "DIP_TV", "CpuBackend", "Method", "build_method", "build_methods", "checkpoint_file", "default_methods",
           "is_adaptation", "is_checkpoint", "learned_model_spec", "parse_spec", "spec_parameters", "split_adaptation"]

#: The prefix of a spec that adapts a learned model to its data first: ``adapt:MODEL[:key=value,...]``.
ADAPT = "adapt"
#: The per-image Deep Image Prior + TV (:func:`recon.training.dip.dip_tv`).
DIP_TV = "dip-tv"
#: Names that are methods, whatever files the working directory holds.
_NAMES = (*METHODS, *PEERS, DIP_TV, ADAPT)


@dataclass(frozen=True)
class Method:
    """One benchmarked reconstructor.

    Attributes
    ----------
    name : str
        Label in tables and file names: the spec as given.
    key : str
        Identifies what the method computes (spec, and for checkpoints the
        file's path, size and modification time): a finished result is
        reused on resume only under the same key.
    reconstruct : callable
        ``reconstruct(y) -> x``, sinograms ``(B, 1, A, D)`` float32 to images
        ``(B, 1, nx, ny)``, on the data's geometry.
    """

    name: str
    key: str
    reconstruct: Callable[[Tensor], Tensor]


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,..."`` into the name and a dict of parsed values.

    Raises
    ------
    ValueError
        An empty name or a parameter without ``=``.

    Examples
    --------
    >>> parse_spec("fbp:filter=hann,frequency_scaling=0.641")
    ('fbp', {'filter': 'hann', 'frequency_scaling': 0.641})
    """
    name, _, text = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"method {spec!r}: expected NAME or NAME:key=value,..., got an empty name")
    return name, _parse_params(text, spec)


def _parse_params(text: str, spec: str) -> dict[str, Any]:
    """``"key=value,..."`` as a dict of parsed values; errors name ``spec``."""
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"method {spec!r}: expected parameters as key=value, got {item!r}")
        params[key.strip()] = _value(value.strip())
    return params


def is_adaptation(spec: str) -> bool:
    """Whether a spec is ``adapt:MODEL[:...]``."""
    return ":" in spec and spec.partition(":")[0].strip() == ADAPT


def split_adaptation(spec: str) -> tuple[str, dict[str, Any]]:
    """The learned model's spec and the adaptation's parameters of ``adapt:MODEL[:key=value,...]``.

    Raises
    ------
    ValueError
        No model named.

    Examples
    --------
    >>> split_adaptation("adapt:lpd-small:steps=50,learning_rate=1e-5")
    ('lpd-small', {'steps': 50, 'learning_rate': 1e-05})
    >>> split_adaptation("adapt:runs/best.safetensors")
    ('runs/best.safetensors', {})
    """
    rest = spec.partition(":")[2]
    model, colon, text = rest.rpartition(":")
    if not colon or "=" not in text:  # no parameters (a model's path may hold ':')
        model, text = rest, ""
    if not model.strip():
        raise ValueError(f"method {spec!r}: expected adapt:MODEL[:key=value,...] with MODEL a shipped name or a "
                         "checkpoint file, got no model")
    return model.strip(), _parse_params(text, spec)


def learned_model_spec(spec: str) -> str | None:
    """The checkpoint spec a method's results depend on: its own, the adapted model's, or None (not learned)."""
    if is_adaptation(spec):
        return split_adaptation(spec)[0]
    return spec if is_checkpoint(spec) else None


def spec_parameters(spec: str) -> dict[str, Any]:
    """The parameters a spec sets: those of a classical method, a peer, a custom method or an adaptation.

    Checkpoints take none.

    Examples
    --------
    >>> spec_parameters("tv:weight=1e-6"), spec_parameters("lpd-small"), spec_parameters("adapt:lpd-small:steps=9")
    ({'weight': 1e-06}, {}, {'steps': 9})
    """
    if is_adaptation(spec):
        return split_adaptation(spec)[1]
    if _is_custom(spec):
        return _parse_params(split_custom(spec)[2], spec)
    if is_checkpoint(spec):
        return {}
    return parse_spec(spec)[1]


def default_methods() -> list[str]:
    """Methods of ``recon benchmark`` without ``--methods``: fbp, tv and every peer whose library imports."""
    return ["fbp", "tv", *(name for name, peer in PEERS.items() if peer.available())]


def _is_custom(spec: str) -> bool:
    """A custom method's spec (:mod:`recon.benchmark.custom`) whose module is not named like a method or peer."""
    return is_custom(spec) and spec.partition(":")[0].strip() not in _NAMES


def is_checkpoint(spec: str) -> bool:
    """Whether a spec names a learned model (a checkpoint file or shipped weights), not a classical method or a peer.

    A method name wins over a file of that name in the working directory
    (``fbp`` is FBP even after ``touch fbp``); a file is named as a path
    (``./fbp``, ``runs/best.safetensors``) or by a name no method has.
    """
    from recon.training.checkpoint import looks_like_path

    if _is_custom(spec) or is_adaptation(spec):
        return False
    if looks_like_path(spec):
        return True
    if Path(spec).is_file():  # a file name may hold ',' or ':'
        return spec.partition(":")[0].strip() not in _NAMES
    return parse_spec(spec)[0] not in _NAMES


def checkpoint_file(spec: str) -> Path:
    """The checkpoint file of a learned method's spec (see :func:`is_checkpoint`).

    Raises
    ------
    ValueError
        Neither a checkpoint file nor the name of shipped weights.
    """
    from recon.training.checkpoint import resolve_checkpoint

    try:
        return resolve_checkpoint(spec)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise ValueError(
            f"unknown method {spec!r}: expected one of {sorted(METHODS)}, {', '.join(map(repr, PEERS))}, "
            f"a checkpoint file or a shipped model name ({error})"
        ) from None


def _load_checked(spec: str, geometry: Geometry, cpu_backend: CpuBackend, device: torch.device | str):
    """The learned model of a checkpoint spec, refused unless trained on ``geometry``, and its resume key."""
    from recon.training.checkpoint import load_model

    path = checkpoint_file(spec)
    model = load_model(path, cpu_backend=cpu_backend, device=device)
    if model.geometry != geometry:
        raise ValueError(
            f"{spec}: the checkpoint was trained on a {model.geometry.describe()}, but the data "
            f"are a {geometry.describe()}"
            + (" (same sizes, other field of view or angles)"
               if model.geometry.describe() == geometry.describe() else "")
        )
    stat = path.stat()
    return model, f"checkpoint:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _checkpoint(spec: str, geometry: Geometry, cpu_backend: CpuBackend, device: torch.device | str) -> Method:
    model, key = _load_checked(spec, geometry, cpu_backend, device)

    def reconstruct(y: Tensor) -> Tensor:
        with torch.no_grad():
            return model(y)

    return Method(name=spec, key=key, reconstruct=reconstruct)


def _adaptation(spec: str, geometry: Geometry, cpu_backend: CpuBackend, device: torch.device | str) -> Method:
    """``adapt:MODEL[:...]``: the model fine-tuned on each batch before it reconstructs it."""
    from recon.training.adaptation import adapt, adaptation_loss, check_adaptation_options

    model_spec, options = split_adaptation(spec)
    check_adaptation_options(options, f"method {spec!r}")
    model, key = _load_checked(model_spec, geometry, cpu_backend, device)
    objective = adaptation_loss(model, options)  # built once; one that does not fit the model is refused now

    def reconstruct(y: Tensor) -> Tensor:
        adapted = adapt(model, y, objective=objective, **options)
        with torch.no_grad():
            return adapted(y)

    return Method(name=spec, key=f"adapt:{sorted(options.items())}:{key}", reconstruct=reconstruct)


def _dip_tv(spec: str, params: dict[str, Any], operator: RayTransform) -> Callable[[Tensor], Tensor]:
    """``y -> dip_tv(y, operator, **params)``, its parameter names checked now."""
    import inspect

    from recon.training.dip import dip_tv

    allowed = [name for name, parameter in inspect.signature(dip_tv).parameters.items()
               if parameter.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"method {spec!r}: unknown parameter(s) {unknown}; expected some of {allowed}")
    return lambda y: dip_tv(y, operator, **params)


def build_method(spec: str, geometry: Geometry, *, operator: RayTransform | None = None,
                 cpu_backend: CpuBackend = "threads", device: torch.device | str = "cpu") -> Method:
    """The reconstructor a spec names, on ``geometry``.

    Parameters
    ----------
    spec : str
        See the module documentation.
    geometry : Geometry
        The data's geometry.
    operator : RayTransform, optional
        Shared operator of the classical methods (default: a new one).
    cpu_backend : {"threads", "sparse"}
        CPU backend of a new operator and of loaded models.
    device : torch.device or str
        Where loaded models live (classical methods run where their input is).

    Raises
    ------
    ValueError
        Unknown name or parameter, or a checkpoint of another geometry.
    """
    if _is_custom(spec):
        reconstruct, key = build_custom(spec, geometry, spec_parameters(spec), operator=operator,
                                        cpu_backend=cpu_backend)
        return Method(name=spec, key=key, reconstruct=reconstruct)
    if is_adaptation(spec):
        return _adaptation(spec, geometry, cpu_backend, device)
    if is_checkpoint(spec):
        if not Path(spec).is_file() and parse_spec(spec)[1]:  # a file's path may hold ':' or ','
            raise ValueError(f"method {spec!r}: parameters apply to classical methods only, not to checkpoints")
        return _checkpoint(spec, geometry, cpu_backend, device)
    name, params = parse_spec(spec)
    if name == DIP_TV:
        return Method(name=spec, key=f"dip-tv:{spec}", reconstruct=_dip_tv(spec, params, operator or RayTransform(
            geometry, cpu_backend=cpu_backend)))
    if name in METHODS:
        operator = operator if operator is not None else RayTransform(geometry, cpu_backend=cpu_backend)
        bound = BoundMethod(name, operator, params, name=spec)
        return Method(name=spec, key=f"classical:{spec}", reconstruct=bound)
    peer = PEERS[name]
    return Method(name=spec, key=f"{peer.library}:{spec}", reconstruct=peer.build(geometry, params))


def build_methods(specs: Sequence[str | os.PathLike], geometry: Geometry, *,
                  cpu_backend: CpuBackend = "threads") -> list[Method]:
    """:func:`build_method` for every spec, classical ones sharing one operator.

    Raises
    ------
    ValueError
        Any error of :func:`build_method`.
    """
    operator = RayTransform(geometry, cpu_backend=cpu_backend)
    return [build_method(str(spec), geometry, operator=operator, cpu_backend=cpu_backend) for spec in specs]

