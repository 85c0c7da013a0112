"""recon's geometries as ASTRA's: volume and projection geometries in ASTRA's ``*_vec`` forms.

recon's axes differ from ASTRA's: in 2D recon's ``(x, y)`` is ASTRA's
``(X, Y) = (y, -x)``, so an x-first array passes to ASTRA unchanged; the
3D mappings are given per function.
"""

from __future__ import annotations

import numpy as np

from recon.geometry import Geometry
from recon.operators.backends.common import import_astra

__all__ = ["astra_geometries_2d", "astra_geometries_3d"]


def astra_geometries_2d(geometry: Geometry) -> tuple[dict, dict]:
    """ASTRA 2D CPU volume and projection geometries (``*_vec`` form).

    recon's ``(x, y)`` maps to ASTRA's ``(X, Y) = (y, -x)``, so an x-first
    array is passed to ASTRA unchanged (rows = x, columns = y).
    """
    astra = import_astra()

    if geometry.ndim != 2:
        raise ValueError(f"ASTRA 2D geometries need a 2D geometry, got {geometry.kind!r}")
    (xmin, ymin), (xmax, ymax) = geometry.image_min, geometry.image_max
    vol_geom = astra.create_vol_geom(
        geometry.image_shape[0], geometry.image_shape[1], ymin, ymax, -xmax, -xmin
    )

    def to_astra(v: np.ndarray) -> np.ndarray:
        return np.stack([v[:, 1], -v[:, 0]], axis=1)

    a, d = geometry.directions()
    (s_mid,) = geometry.detector_centre_offset()
    (spacing,) = geometry.detector_spacing
    u = to_astra(spacing * a)
    if geometry.kind == "parallel":
        vectors = np.hstack([to_astra(d), to_astra(s_mid * a), u])
        proj_geom = astra.create_proj_geom("parallel_vec", geometry.detector_shape[0], vectors)
    else:
        source = to_astra(-geometry.source_radius * d)
        centre = to_astra(geometry.detector_radius * d + s_mid * a)
        vectors = np.hstack([source, centre, u])
        proj_geom = astra.create_proj_geom("fanflat_vec", geometry.detector_shape[0], vectors)
    return vol_geom, proj_geom


def astra_geometries_3d(geometry: Geometry, num_slices: int = 1) -> tuple[dict, dict]:
    """ASTRA 3D (CUDA) volume and projection geometries.

    For a 2D parallel geometry, ``num_slices`` images are stacked along
    ASTRA's ``Z`` axis with one detector row each, so a whole batch is one
    ASTRA call: volume ``(num_slices, nx, ny)``, projections
    ``(num_slices, num_angles, num_detectors)``. recon's ``(x, y)`` maps to
    ASTRA's ``(X, Y, Z) = (y, x, slice)``.

    For 3D geometries recon's ``(x, y, z)`` maps to ASTRA's
    ``(X, Y, Z) = (z, y, x)`` (as ODL does), the volume ``(nx, ny, nz)`` is
    passed unchanged and ASTRA returns projections ``(num_u, num_angles,
    num_v)``.
    """
    astra = import_astra()

    if geometry.ndim == 2:
        if geometry.kind == "fan":
            raise ValueError("fan-beam geometries have no ASTRA 3D form here: on CUDA they use "
                             "the sparse system matrix (ASTRA's CUDA fan-beam pair is not adjoint)")
        return _stacked_2d(geometry, astra, num_slices)
    return _volume_3d(geometry, astra)


def _stacked_2d(geometry: Geometry, astra, num_slices: int) -> tuple[dict, dict]:
    (xmin, ymin), (xmax, ymax) = geometry.image_min, geometry.image_max
    slice_thickness = geometry.pixel_size[0]
    half_z = 0.5 * num_slices * slice_thickness
    vol_geom = astra.create_vol_geom(
        geometry.image_shape[0], geometry.image_shape[1], num_slices,
        ymin, ymax, xmin, xmax, -half_z, half_z,
    )

    def to_astra(v: np.ndarray) -> np.ndarray:
        return np.stack([v[:, 1], v[:, 0], np.zeros(len(v))], axis=1)

    a, d = geometry.directions()
    (s_mid,) = geometry.detector_centre_offset()
    (spacing,) = geometry.detector_spacing
    u = to_astra(spacing * a)
    v = np.tile([0.0, 0.0, slice_thickness], (geometry.num_angles, 1))
    vectors = np.hstack([to_astra(d), to_astra(s_mid * a), u, v])
    proj_geom = astra.create_proj_geom("parallel3d_vec", num_slices, geometry.detector_shape[0], vectors)
    return vol_geom, proj_geom


def _volume_3d(geometry: Geometry, astra) -> tuple[dict, dict]:
    (xmin, ymin, zmin), (xmax, ymax, zmax) = geometry.image_min, geometry.image_max
    nx, ny, nz = geometry.image_shape
    vol_geom = astra.create_vol_geom(ny, nz, nx, zmin, zmax, ymin, ymax, xmin, xmax)
    a2, d2 = geometry.directions()
    zeros = np.zeros((geometry.num_angles, 1))
    a = np.hstack([a2, zeros])
    d = np.hstack([d2, zeros])
    axis = np.tile([0.0, 0.0, 1.0], (geometry.num_angles, 1))

    def to_astra(vec: np.ndarray) -> np.ndarray:
        return vec[:, ::-1]

    u_mid, v_mid = geometry.detector_centre_offset()
    du, dv = geometry.detector_spacing
    offset = u_mid * a + v_mid * axis
    # ASTRA rows follow recon's u (in-plane), columns recon's v (axial).
    row_step = to_astra(du * a)
    col_step = to_astra(dv * axis)
    if geometry.kind == "parallel3d":
        vectors = np.hstack([to_astra(d), to_astra(offset), col_step, row_step])
        kind = "parallel3d_vec"
    else:
        source = to_astra(-geometry.source_radius * d)
        centre = to_astra(geometry.detector_radius * d + offset)
        vectors = np.hstack([source, centre, col_step, row_step])
        kind = "cone_vec"
    num_u, num_v = geometry.detector_shape
    proj_geom = astra.create_proj_geom(kind, num_u, num_v, vectors)
    return vol_geom, proj_geom
