"""ASTRA's own CPU reconstruction algorithms, as references for recon's methods."""

from __future__ import annotations

from typing import Literal

import numpy as np

from recon.geometry import Geometry
from recon.operators.backends.astra_geometry import astra_geometries_2d

__all__ = ["astra_reference"]

AstraAlgorithm = Literal["FBP", "SIRT", "CGLS"]


def astra_reference(
    sinogram: np.ndarray,
    geometry: Geometry,
    algorithm: AstraAlgorithm,
    *,
    iterations: int = 1,
    **options: object,
) -> np.ndarray:
    """Reconstruct one sinogram with ASTRA's CPU algorithm and a ``linear`` projector.

    Used by the tests and benchmarks to check recon against ASTRA; every
    ASTRA object created is freed again.

    Parameters
    ----------
    sinogram : numpy.ndarray, shape (A, D), float32
        One sinogram of ``geometry`` (recon's layout).
    geometry : Geometry
        A 2D parallel-beam geometry.
    algorithm : {"FBP", "SIRT", "CGLS"}
        ASTRA's algorithm name.
    iterations : int
        Iterations of SIRT / CGLS.
    **options
        ASTRA algorithm options, e.g. ``FilterType="hann", FilterD=0.641``.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32

    Notes
    -----
    ASTRA's CPU ``FBP`` accepts only its basic ``parallel`` geometry: recon's
    angle ``theta`` is ASTRA's ``theta + pi/2`` with the detector reversed
    (compare :func:`~recon.operators.backends.astra_geometry.astra_geometries_2d`, which uses ``parallel_vec``).
    """
    import astra

    if geometry.kind != "parallel":
        raise ValueError(f"astra_reference: expected a parallel geometry, got {geometry.kind!r}")
    vol_geom, proj_geom = astra_geometries_2d(geometry)
    data = np.ascontiguousarray(sinogram, dtype=np.float32)
    if algorithm == "FBP":
        proj_geom = astra.create_proj_geom("parallel", geometry.detector_spacing[0],
                                           geometry.num_detectors,
                                           np.add(geometry.angles, np.pi / 2))
        data = np.ascontiguousarray(data[:, ::-1])
    projector = astra.create_projector("linear", proj_geom, vol_geom)
    sinogram_id = astra.data2d.create("-sino", proj_geom, data)
    result_id = astra.data2d.create("-vol", vol_geom, 0)
    config = astra.astra_dict(algorithm)
    config.update(ProjectorId=projector, ProjectionDataId=sinogram_id,
                  ReconstructionDataId=result_id, option=dict(options))
    algorithm_id = astra.algorithm.create(config)
    try:
        astra.algorithm.run(algorithm_id, iterations)
        return astra.data2d.get(result_id).astype(np.float32)
    finally:
        astra.algorithm.delete(algorithm_id)
        astra.data2d.delete([sinogram_id, result_id])
        astra.projector.delete(projector)
