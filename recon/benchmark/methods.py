"""Reconstructors of a benchmark, built from text specs.

A spec names one reconstructor and optionally its parameters,
``name[:key=value,key=value...]``:

* a classical method of :data:`recon.algorithms.METHODS` -- ``fbp``,
  ``fbp:filter=hann,frequency_scaling=0.641``, ``sirt:iterations=100``,
  ``cgls:iterations=30``, ``tv:weight=0.1,iterations=200``, ``landweber``;
* ``odl-fbp[:filter=...,frequency_scaling=...]``: ODL 1.0's ``fbp_op`` on the
  same geometry, the peer a user would otherwise pick (same defaults as
  recon's ``fbp``: Hann at 0.641);
* ``deepinv-fbp``: DeepInverse's ``Tomography(...).A_dagger(y, fbp=True)``
  (plain ramp filter, no parameters), the sinograms resampled onto its
  pixel-unit detector; only where deepinv is installed;
* a checkpoint file or the name of shipped weights (``lpd-small`` ...),
  loaded by :func:`recon.training.checkpoint.load_model`; it must have been
  trained on the data's geometry.

Values are parsed as int, float or ``true``/``false`` where they read as one,
else kept as strings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from recon.algorithms import METHODS, BoundMethod
from recon.geometry import Geometry
from recon.operators import RayTransform

__all__ = ["DEEPINV_FBP", "ODL_FBP", "CpuBackend", "Method", "build_method", "build_methods", "checkpoint_file",
           "deepinv_available", "default_methods", "describe_geometry", "import_deepinv", "is_checkpoint",
           "parse_spec"]

CpuBackend = Literal["threads", "sparse"]

#: Spec name of ODL's ``fbp_op`` peer row.
ODL_FBP = "odl-fbp"
_ODL_FBP_DEFAULTS = {"filter": "hann", "frequency_scaling": 0.641}
#: Spec name of DeepInverse's ``Tomography`` FBP peer row.
DEEPINV_FBP = "deepinv-fbp"
#: Names that are methods, whatever files the working directory holds.
_NAMES = (*METHODS, ODL_FBP, DEEPINV_FBP)


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


def import_deepinv():
    """The ``deepinv`` module, for the :data:`DEEPINV_FBP` row.

    Raises
    ------
    ImportError
        One line: deepinv is not installed, or is installed but fails to
        import (e.g. a torchvision built for another torch); both say
        ``pip install deepinv``.
    """
    try:
        import deepinv
    except ImportError:
        raise ImportError(f"{DEEPINV_FBP} needs DeepInverse: pip install deepinv") from None
    except Exception as error:  # noqa: BLE001 - a broken install raises anything, e.g. RuntimeError from torchvision
        raise ImportError(f"{DEEPINV_FBP}: deepinv is installed but does not import "
                          f"({type(error).__name__}: {error}); reinstall it: pip install deepinv") from None
    return deepinv


def deepinv_available() -> bool:
    """Whether :func:`import_deepinv` succeeds, i.e. the :data:`DEEPINV_FBP` row can run."""
    try:
        import_deepinv()
    except ImportError:
        return False
    return True


def default_methods() -> list[str]:
    """Methods of ``recon benchmark`` without ``--methods``: fbp, tv, odl-fbp, and deepinv-fbp if deepinv imports."""
    return ["fbp", "tv", ODL_FBP, *([DEEPINV_FBP] if deepinv_available() else [])]


def _deepinv_detector(geometry: Geometry) -> Tensor:
    """Where the bins of deepinv's parallel-beam detector lie on the geometry's detector.

    deepinv 0.5's ``Radon`` (``circle=False``) pads the ``W x W`` image to
    ``P = ceil(sqrt(2) W)`` pixels, rotates it about the centre of the padded
    grid and sums along columns, so with deepinv's angle ``theta - 90°`` its
    bin ``k`` measures the line ``s = c . a + h (k - (P - 1) / 2 - delta (cos theta + sin theta))``
    of recon's geometry: ``a = (cos theta, sin theta)`` the detector axis, ``c``
    the image centre (m), ``h`` the pixel side (m) and ``delta`` (0 or -1/2) the
    offset of the image centre from the padded grid's centre, in pixels along both axes.

    Returns
    -------
    Tensor, shape (num_angles, P), float32
        Fractional indices of recon's bins (bin ``j`` centred at
        ``detector_min + (j + 1/2) * detector_spacing``).
    """
    width = geometry.image_shape[0]
    # deepinv's own float32 arithmetic, so that P matches its detector exactly
    pad = int(((2 * torch.ones(1)).sqrt() * width - width).ceil())
    padded = width + pad
    delta = (padded // 2 - width // 2) + (width - 1) / 2 - (padded - 1) / 2
    theta = np.asarray(geometry.angles)[:, None]
    centre = [(lo + hi) / 2 for lo, hi in zip(geometry.image_min, geometry.image_max)]
    bins = np.arange(padded) - (padded - 1) / 2
    s = (centre[0] * np.cos(theta) + centre[1] * np.sin(theta)
         + geometry.pixel_size[0] * (bins - delta * (np.cos(theta) + np.sin(theta))))
    return torch.from_numpy((s - geometry.detector_min[0]) / geometry.detector_spacing[0] - 0.5).float()


def _sample_bins(y: Tensor, positions: Tensor) -> Tensor:
    """Sinograms ``(B, C, A, D)`` linearly interpolated at fractional bins ``(A, K)``, zero beyond the detector."""
    num_bins = y.shape[-1]
    padded = F.pad(y, (1, 1))  # one zero bin beyond each end
    where = (positions + 1).clamp(0, num_bins + 1)
    left = where.floor().clamp(max=num_bins).long().expand(*y.shape[:2], *positions.shape)
    weight = where - left
    return padded.gather(-1, left) * (1 - weight) + padded.gather(-1, left + 1) * weight


def _deepinv_fbp(geometry: Geometry, params: dict[str, Any]) -> Callable[[Tensor], Tensor]:
    """DeepInverse's ``Tomography`` FBP on the geometry, as a batched reconstructor.

    deepinv works in pixel units on a detector of its own (one bin per pixel,
    ``ceil(sqrt(2) W)`` bins); the sinograms are resampled onto it
    (:func:`_deepinv_detector`) and divided by the pixel side, which turns
    line integrals in metres into deepinv's, so the images come out on the
    data's scale. Angles are recon's minus 90 degrees. deepinv's FBP
    weights each angle by ``pi / (2 A)``: right for equally spaced angles
    over half or a full turn, as recon's presets make them. ``Tomography``
    keeps a sampling grid of ``ceil(sqrt(2) W)^2`` points per angle (about
    2 GB at LoDoPaB's size).
    """
    if params:
        raise ValueError(f"{DEEPINV_FBP} takes no parameters (deepinv's FBP has a plain ramp filter), "
                         f"got {sorted(params)}")
    width = geometry.image_shape[0]
    pixel = geometry.pixel_size
    if geometry.kind != "parallel" or geometry.image_shape != (width, width) or not math.isclose(*pixel):
        raise ValueError(f"{DEEPINV_FBP}: expected a parallel beam on a square grid of square pixels "
                         f"(deepinv's Tomography), got a {describe_geometry(geometry)}")
    try:
        deepinv = import_deepinv()
    except ImportError as error:
        raise ValueError(str(error)) from None
    positions = _deepinv_detector(geometry)
    physics = deepinv.physics.Tomography(
        angles=torch.from_numpy(np.degrees(geometry.angles) - 90).float(), img_width=width,
        circle=False, normalize=False,
    )

    def reconstruct(y: Tensor) -> Tensor:
        sinograms = _sample_bins(y.detach().float().cpu(), positions) / pixel[0]  # line integrals in pixels
        return physics.A_dagger(sinograms.transpose(-1, -2).contiguous(), fbp=True)

    return reconstruct


def is_checkpoint(spec: str) -> bool:
    """Whether a spec names a learned model (a checkpoint file or shipped weights), not a classical method or a peer.

    A method name wins over a file of that name in the working directory
    (``fbp`` is FBP even after ``touch fbp``); a file is named as a path
    (``./fbp``, ``runs/best.safetensors``) or by a name no method has.
    """
    from recon.training.checkpoint import looks_like_path

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
            f"unknown method {spec!r}: expected one of {sorted(METHODS)}, {ODL_FBP!r}, {DEEPINV_FBP!r}, "
            f"a checkpoint file or a shipped model name ({error})"
        ) from None


def _checkpoint(spec: str, geometry: Geometry, cpu_backend: CpuBackend) -> Method:
    from recon.training.checkpoint import load_model

    path = checkpoint_file(spec)
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
    if is_checkpoint(spec):
        if not Path(spec).is_file() and parse_spec(spec)[1]:  # a file's path may hold ':' or ','
            raise ValueError(f"method {spec!r}: parameters apply to classical methods only, not to checkpoints")
        return _checkpoint(spec, geometry, cpu_backend)
    name, params = parse_spec(spec)
    if name in METHODS:
        operator = operator if operator is not None else RayTransform(geometry, cpu_backend=cpu_backend)
        bound = BoundMethod(name, operator, params, name=spec)
        return Method(name=spec, key=f"classical:{spec}", reconstruct=bound)
    if name == ODL_FBP:
        return Method(name=spec, key=f"odl:{spec}", reconstruct=_odl_fbp(geometry, params))
    return Method(name=spec, key=f"deepinv:{spec}", reconstruct=_deepinv_fbp(geometry, params))


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

