"""Reconstructors of a benchmark, built from text specs.

A spec names one reconstructor and optionally its parameters,
``name[:key=value,key=value...]``:

* a classical method of :data:`recon.algorithms.METHODS` -- ``fbp``,
  ``fbp:filter=hann,frequency_scaling=0.641``, ``sirt:iterations=100``,
  ``cgls:iterations=30``, ``tv:weight=0.1,iterations=200``, ``landweber``;
* ``odl-fbp[:filter=...,frequency_scaling=...]``: ODL 1.0's ``fbp_op`` on the
  same geometry, the peer a user would otherwise pick (same defaults as
  recon's ``fbp``: Hann at 0.641);
* a checkpoint file or the name of shipped weights (``lpd-small`` ...),
  loaded by :func:`recon.training.checkpoint.load_model`; it must have been
  trained on the data's geometry.

Values are parsed as int, float or ``true``/``false`` where they read as one,
else kept as strings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from recon.algorithms import METHODS, Reconstructor
from recon.geometry import Geometry
from recon.operators import RayTransform

__all__ = ["ODL_FBP", "CpuBackend", "Method", "build_method", "build_methods", "describe_geometry", "parse_spec"]

CpuBackend = Literal["threads", "sparse"]

#: Spec name of ODL's ``fbp_op`` peer row.
ODL_FBP = "odl-fbp"
_ODL_FBP_DEFAULTS = {"filter": "hann", "frequency_scaling": 0.641}


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
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"method {spec!r}: expected parameters as key=value, got {item!r}")
        params[key.strip()] = _value(value.strip())
    return name, params


def describe_geometry(geometry: Geometry) -> str:
    """Short text of a geometry's sizes, e.g. ``"parallel 128x128 image, 360 angles, 183 bins"``."""
    image = "x".join(map(str, geometry.image_shape))
    bins = "x".join(map(str, geometry.detector_shape))
    return f"{geometry.kind} {image} image, {len(geometry.angles)} angles, {bins} bins"


def _odl_fbp(geometry: Geometry, params: dict[str, Any]) -> Callable[[Tensor], Tensor]:
    """ODL's ``fbp_op`` applied image by image, as a batched reconstructor."""
    from odl.applications import tomo

    unknown = sorted(set(params) - set(_ODL_FBP_DEFAULTS))
    if unknown:
        raise ValueError(f"{ODL_FBP} takes the parameters {list(_ODL_FBP_DEFAULTS)}, got unknown {unknown}")
    params = {**_ODL_FBP_DEFAULTS, **params}
    space, odl_geometry = geometry.to_odl()
    operator = tomo.fbp_op(
        tomo.RayTransform(space, odl_geometry, impl="astra_cpu"),
        filter_type="-".join(part.capitalize() for part in str(params["filter"]).split("-")),
        frequency_scaling=float(params["frequency_scaling"]),
    )

    def reconstruct(y: Tensor) -> Tensor:
        images = [operator(operator.domain.element(sinogram.numpy())).asarray() for sinogram in y[:, 0].cpu()]
        return torch.from_numpy(np.stack(images).astype(np.float32))[:, None]

    return reconstruct


def _checkpoint(spec: str, geometry: Geometry, cpu_backend: CpuBackend) -> Method:
    from recon.training.checkpoint import load_model, resolve_checkpoint

    try:
        path = resolve_checkpoint(spec)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise ValueError(
            f"unknown method {spec!r}: expected one of {sorted(METHODS)}, {ODL_FBP!r}, a checkpoint file "
            f"or a shipped model name ({error})"
        ) from None
    model = load_model(path, cpu_backend=cpu_backend)
    if model.geometry != geometry:
        raise ValueError(
            f"{spec}: the checkpoint was trained on a {describe_geometry(model.geometry)}, but the data "
            f"are a {describe_geometry(geometry)}"
            + (" (same sizes, other field of view or angles)"
               if describe_geometry(model.geometry) == describe_geometry(geometry) else "")
        )
    stat = path.stat()
    key = f"checkpoint:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def reconstruct(y: Tensor) -> Tensor:
        with torch.no_grad():
            return model(y)

    return Method(name=spec, key=key, reconstruct=reconstruct)


def build_method(spec: str, geometry: Geometry, *, operator: RayTransform | None = None,
                 cpu_backend: CpuBackend = "threads") -> Method:
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

    Raises
    ------
    ValueError
        Unknown name or parameter, or a checkpoint of another geometry.
    """
    if Path(spec).is_file():  # a checkpoint whose path may hold ':' or ','
        return _checkpoint(spec, geometry, cpu_backend)
    name, params = parse_spec(spec)
    if name in METHODS:
        operator = operator if operator is not None else RayTransform(geometry, cpu_backend=cpu_backend)
        bound = Reconstructor(name, operator, params, name=spec)
        return Method(name=spec, key=f"classical:{spec}", reconstruct=bound)
    if name == ODL_FBP:
        return Method(name=spec, key=f"odl:{spec}", reconstruct=_odl_fbp(geometry, params))
    if params:
        raise ValueError(f"method {spec!r}: parameters apply to classical methods only, not to checkpoints")
    return _checkpoint(spec, geometry, cpu_backend)


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

