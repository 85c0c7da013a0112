"""ASTRA CPU projectors, the batch spread over a thread pool.

ASTRA releases the GIL inside ``direct_FP`` / ``direct_BP``, so samples of a
batch run truly in parallel, one ASTRA call per sample and thread. A batch of
one runs on the calling thread, with no pool overhead.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from functools import lru_cache

from torch import Tensor

from recon.geometry import Geometry
from recon.operators.backends.astra_geometry import astra_geometries_2d
from recon.operators.backends.common import BackendUnavailableError, import_astra

__all__ = ["AstraCpuBackend", "astra_projector_type", "create_cpu_projector"]

_PARALLEL_TYPES = {"linear": "linear", "line": "line", "strip": "strip"}
_FAN_TYPES = {"line": "line_fanflat"}  # strip_fanflat lacks fanflat_vec support


def astra_projector_type(geometry: Geometry, projector: str) -> str:
    """ASTRA's CPU projector name for a recon projector name and geometry."""
    if geometry.ndim != 2:
        raise BackendUnavailableError(
            f"ASTRA has no CPU projector for the 3D {geometry.kind!r} geometry; "
            "3D needs a CUDA tensor and a CUDA-enabled astra-toolbox"
        )
    table = _PARALLEL_TYPES if geometry.kind == "parallel" else _FAN_TYPES
    try:
        return table[projector]
    except KeyError:
        raise ValueError(
            f"projector: expected one of {sorted(table)} for a {geometry.kind} beam, got {projector!r}"
        ) from None


def create_cpu_projector(geometry: Geometry, projector: str) -> int:
    """Create an ASTRA CPU projector; the caller owns (and deletes) the id."""
    astra = import_astra()
    projector_type = astra_projector_type(geometry, projector)
    vol_geom, proj_geom = astra_geometries_2d(geometry)
    return astra.create_projector(projector_type, proj_geom, vol_geom)


@lru_cache(maxsize=None)
def _thread_pool(num_threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="recon-astra")


def default_num_threads() -> int:
    """Threads for a batch: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class AstraCpuBackend:
    """One ASTRA CPU projector, applied sample by sample over threads.

    Parameters
    ----------
    geometry : Geometry
        A 2D geometry.
    projector : {"linear", "line", "strip"}
        ASTRA's projector model (``linear`` is Joseph's method, ODL's default).
    num_threads : int, optional
        Threads per batch; default all available cores.
    """

    def __init__(self, geometry: Geometry, projector: str, *, num_threads: int | None = None):
        # No module among the attributes (astra is imported where it is used): deepinv's clone() walks
        # every attribute, and a module would lead it through the whole interpreter.
        self.num_threads = num_threads or default_num_threads()
        self.projector_id = create_cpu_projector(geometry, projector)
        self._finalizer = weakref.finalize(self, import_astra().projector.delete, self.projector_id)

    def _run(self, function, inputs: Tensor, outputs: Tensor) -> None:
        if len(inputs) == 1 or self.num_threads == 1:
            for source, target in zip(inputs, outputs):
                function(self.projector_id, source, out=target)
            return
        pool = _thread_pool(self.num_threads)
        jobs = [
            pool.submit(function, self.projector_id, source, out=target)
            for source, target in zip(inputs, outputs)
        ]
        try:
            for job in jobs:
                job.result()
        except BaseException:
            # Ctrl-C or an error: no job may outlive the call (the projector
            # and the tensors could be freed under a running ASTRA call).
            for job in jobs:
                job.cancel()
            wait(jobs)
            raise

    def forward(self, volume: Tensor, out: Tensor) -> None:
        self._run(import_astra().projector.direct_FP, volume, out)

    def adjoint(self, sinogram: Tensor, out: Tensor) -> None:
        self._run(import_astra().projector.direct_BP, sinogram, out)

    def close(self) -> None:
        self._finalizer()
