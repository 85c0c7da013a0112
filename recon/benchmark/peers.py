"""Peers: other libraries' reconstructors on recon's data, behind one interface (:data:`PEERS`).

A peer row in a benchmark is what a user of that library would get on the
same sinograms, so that recon's numbers are read against it:

* ``odl-fbp[:filter=...,frequency_scaling=...]``: ODL 1.0's ``fbp_op`` on
  the same geometry (same defaults as recon's ``fbp``: Hann at 0.641);
* ``deepinv-fbp``: DeepInverse's ``Tomography(...).A_dagger(y, fbp=True)``
  (plain ramp filter, no parameters), the sinograms resampled onto its
  pixel-unit detector; only where deepinv imports
  (:func:`recon.interop.import_deepinv`; a default row only then).

Adding a peer: a builder ``build(geometry, params) -> reconstruct`` (sinograms
``(B, 1, A, D)`` to images ``(B, 1, nx, ny)``) and a row of :data:`PEERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from recon.geometry import Geometry
from recon.interop import deepinv_available, import_deepinv
from recon.operators.odl_geometry import geometry_to_odl

__all__ = ["DEEPINV_FBP", "ODL_FBP", "PEERS", "Peer"]

#: Spec name of ODL's ``fbp_op`` peer row.
ODL_FBP = "odl-fbp"
_ODL_FBP_DEFAULTS = {"filter": "hann", "frequency_scaling": 0.641}
#: Spec name of DeepInverse's ``Tomography`` FBP peer row.
DEEPINV_FBP = "deepinv-fbp"


def _odl_fbp(geometry: Geometry, params: dict[str, Any]) -> Callable[[Tensor], Tensor]:
    """ODL's ``fbp_op`` applied image by image, as a batched reconstructor."""
    from odl.applications import tomo

    unknown = sorted(set(params) - set(_ODL_FBP_DEFAULTS))
    if unknown:
        raise ValueError(f"{ODL_FBP} takes the parameters {list(_ODL_FBP_DEFAULTS)}, got unknown {unknown}")
    params = {**_ODL_FBP_DEFAULTS, **params}
    space, odl_geometry = geometry_to_odl(geometry)
    operator = tomo.fbp_op(
        tomo.RayTransform(space, odl_geometry, impl="astra_cpu"),
        filter_type="-".join(part.capitalize() for part in str(params["filter"]).split("-")),
        frequency_scaling=float(params["frequency_scaling"]),
    )

    def reconstruct(y: Tensor) -> Tensor:
        images = [operator(operator.domain.element(sinogram.numpy())).asarray() for sinogram in y[:, 0].cpu()]
        return torch.from_numpy(np.stack(images).astype(np.float32))[:, None]

    return reconstruct


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
                         f"(deepinv's Tomography), got a {geometry.describe()}")
    try:
        deepinv = import_deepinv()
    except ImportError as error:
        raise ValueError(f"{DEEPINV_FBP}: {error}") from None
    positions = _deepinv_detector(geometry)
    physics = deepinv.physics.Tomography(
        angles=torch.from_numpy(np.degrees(geometry.angles) - 90).float(), img_width=width,
        circle=False, normalize=False,
    )

    def reconstruct(y: Tensor) -> Tensor:
        sinograms = _sample_bins(y.detach().float().cpu(), positions) / pixel[0]  # line integrals in pixels
        return physics.A_dagger(sinograms.transpose(-1, -2).contiguous(), fbp=True)

    return reconstruct


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Peer:
    """One peer reconstructor.

    Attributes
    ----------
    library : str
        The library, short (``"odl"``, ``"deepinv"``); also the prefix of its benchmark resume keys.
    build : callable
        ``build(geometry, params) -> reconstruct``, ``reconstruct(y (B, 1, A, D)) -> x (B, 1, nx, ny)``;
        raises ``ValueError`` for parameters or geometries the peer does not take.
    available : callable
        ``available() -> bool``: whether the library imports here (a default benchmark row only then).
    """

    library: str
    build: Callable[[Geometry, dict[str, Any]], Callable[[Tensor], Tensor]]
    available: Callable[[], bool] = _always


#: The peers by spec name.
PEERS: dict[str, Peer] = {
    ODL_FBP: Peer("odl", _odl_fbp),
    DEEPINV_FBP: Peer("deepinv", _deepinv_fbp, deepinv_available),
}
