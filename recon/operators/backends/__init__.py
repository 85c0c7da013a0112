"""Projector backends, chosen by name.

A backend applies one geometry's projector to a contiguous float32 batch
``(N, *image_shape) -> (N, *sinogram_shape)`` and back, writing into a
pre-allocated output. ``RayTransform`` picks one per device.
"""

from __future__ import annotations

from typing import Callable

from recon.geometry import Geometry
from recon.operators.backends.common import Backend, BackendUnavailableError, import_astra

__all__ = ["Backend", "BACKENDS", "create_backend", "BackendUnavailableError", "import_astra"]


def _threads(geometry: Geometry, projector: str, **options) -> Backend:
    from recon.operators.backends.astra_cpu import AstraCpuBackend

    return AstraCpuBackend(geometry, projector, **options)


def _astra(geometry: Geometry, projector: str, **options) -> Backend:
    from recon.operators.backends.astra_cuda import AstraCudaBackend

    return AstraCudaBackend(geometry, **options)


def _sparse(geometry: Geometry, projector: str, **options) -> Backend:
    from recon.operators.backends.sparse import SparseMatrixBackend

    return SparseMatrixBackend(geometry, projector, **options)


#: Every backend by the name users give it (``cpu_backend="threads"``, ``cuda_backend="astra"``, ``"sparse"`` on
#: either device).
BACKENDS: dict[str, Callable[..., Backend]] = {
    "threads": _threads,
    "astra": _astra,
    "sparse": _sparse,
}


def create_backend(name: str, geometry: Geometry, projector: str, **options) -> Backend:
    """Instantiate the backend ``name`` for ``geometry``.

    Raises
    ------
    ValueError
        Unknown backend name.
    BackendUnavailableError
        The backend's library or hardware is missing; the message says what
        to install.
    """
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; expected one of {sorted(BACKENDS)}") from None
    return factory(geometry, projector, **options)
