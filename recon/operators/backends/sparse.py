"""ASTRA's own system matrix applied with torch sparse kernels.

For training at small and medium sizes, one sparse matrix-matrix product
projects a whole batch at once and uses every core; the transpose is stored
too, so the adjoint is the exact transpose of the same matrix. On a CUDA
device the products run in cuSPARSE with the same matrix, so CUDA tensors get
the CPU operator's numbers and its exact adjoint. The matrix is
built once from ASTRA's CPU projector and cached on disk (``.npz``, loaded
with ``allow_pickle=False``), keyed by the geometry, projector and ASTRA
version.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from recon.files import atomic_path
from recon.geometry import Geometry
from recon.operators.backends.astra_cpu import astra_projector_type, create_cpu_projector
from recon.operators.backends.common import import_astra

__all__ = ["SparseMatrixBackend", "estimate_sparse_bytes", "cache_directory"]

_BYTES_PER_NONZERO = 8  # float32 value + int32 column index


def cache_directory() -> Path:
    """Where system matrices are cached: ``$RECON_CACHE_DIR`` or ``~/.cache/recon``."""
    root = os.environ.get("RECON_CACHE_DIR") or Path.home() / ".cache" / "recon"
    return Path(root) / "matrices"


def estimate_sparse_bytes(geometry: Geometry, projector: str) -> int:
    """Upper estimate of the memory of both matrices, in bytes, before building.

    A ray of the ``line`` or ``linear`` model touches at most ``nx + ny``
    pixels, a ``strip`` ray about twice that. The estimate is close to the
    peak while building: at LoDoPaB size it gives 5.9 GB, the measured build
    peak was 6.2 GiB and the finished matrices hold 3.6 GiB.
    """
    astra_type = astra_projector_type(geometry, projector)
    per_ray = sum(geometry.image_shape) * (2 if astra_type.startswith("strip") else 1)
    rays = geometry.num_angles * geometry.num_detectors
    return 2 * rays * per_ray * _BYTES_PER_NONZERO


def _cache_path(geometry: Geometry, projector: str) -> Path:
    astra = import_astra()
    version = astra.__version__.replace("/", "_")
    return cache_directory() / f"{geometry.fingerprint()}-{projector}-astra{version}.npz"


def _build_csr(geometry: Geometry, projector: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    astra = import_astra()
    projector_id = create_cpu_projector(geometry, projector)
    matrix_id = astra.projector.matrix(projector_id)
    try:
        matrix = astra.matrix.get(matrix_id)
    finally:
        astra.matrix.delete(matrix_id)
        astra.projector.delete(projector_id)
    matrix.sum_duplicates()
    return matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32), matrix.data.astype(np.float32)


def load_or_build_csr(geometry: Geometry, projector: str, *, cache: bool = True):
    """CSR arrays ``(indptr, indices, data)`` of the forward matrix.

    Rows index the sinogram ``(angle, detector)`` in C order, columns the
    x-first image ``(x, y)``.
    """
    path = _cache_path(geometry, projector)
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return stored["indptr"], stored["indices"], stored["data"]
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache entry is rebuilt
    arrays = _build_csr(geometry, projector)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, indptr=arrays[0], indices=arrays[1], data=arrays[2])
    return arrays


def _torch_csr(indptr, indices, data, shape) -> Tensor:
    index_dtype = torch.int32 if len(data) < 2**31 else torch.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(indptr)).to(index_dtype),
            torch.from_numpy(np.asarray(indices)).to(index_dtype),
            torch.from_numpy(np.asarray(data)),
            size=shape,
            check_invariants=False,  # ASTRA's CSR is valid by construction
        )


class SparseMatrixBackend:
    """Projection as ``torch.sparse.mm`` with ASTRA's CPU system matrix.

    Parameters
    ----------
    geometry : Geometry
        A 2D geometry.
    projector : {"linear", "line", "strip"}
    cache : bool
        Read and write the on-disk matrix cache.
    num_threads : int, optional
        torch intra-op threads for the products on CPU (default: torch's
        setting). On a machine shared with other jobs, 1 thread can beat 2
        competing ones (see docs/benchmarks.md).
    device : torch.device or str
        Where the matrices live and the products run (default CPU); the
        tensors passed in must be on it.

    Attributes
    ----------
    nbytes : int
        Memory held by the forward and transposed matrices, bytes.
    """

    def __init__(
        self, geometry: Geometry, projector: str, *, cache: bool = True, num_threads: int | None = None,
        device: torch.device | str = "cpu",
    ):
        import scipy.sparse

        indptr, indices, data = load_or_build_csr(geometry, projector, cache=cache)
        shape = (geometry.num_angles * geometry.num_detectors, int(np.prod(geometry.image_shape)))
        self.matrix = _torch_csr(indptr, indices, data, shape).to(device)
        transposed = scipy.sparse.csr_matrix((data, indices, indptr), shape=shape).T.tocsr()
        self.matrix_t = _torch_csr(
            transposed.indptr, transposed.indices, transposed.data, shape[::-1]
        ).to(device)
        self.num_threads = num_threads
        self.nbytes = sum(
            t.crow_indices().nbytes + t.col_indices().nbytes + t.values().nbytes
            for t in (self.matrix, self.matrix_t)
        )

    def _multiply(self, matrix: Tensor, inputs: Tensor, out: Tensor) -> None:
        columns = inputs.reshape(len(inputs), -1).T.contiguous()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            product = torch.sparse.mm(matrix, columns)
        finally:
            torch.set_num_threads(previous)
        out.view(len(out), -1).copy_(product.T)

    def forward(self, volume: Tensor, out: Tensor) -> None:
        self._multiply(self.matrix, volume, out)

    def adjoint(self, sinogram: Tensor, out: Tensor) -> None:
        self._multiply(self.matrix_t, sinogram, out)

    def close(self) -> None:
        del self.matrix, self.matrix_t
