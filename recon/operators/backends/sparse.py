"""ASTRA's own system matrix applied with torch sparse kernels.

For training at small and medium sizes, one sparse matrix-matrix product
projects a whole batch at once and uses every core; the transpose is stored
too, so the adjoint is the exact transpose of the same matrix. On a CUDA
device the products run in cuSPARSE with the same matrix, so CUDA tensors get
the CPU operator's numbers and its exact adjoint. The matrix is
built once from ASTRA's CPU projector and cached on disk (``.npz``, loaded
with ``allow_pickle=False``), keyed by the geometry, projector and ASTRA
version.

Where the square grid's symmetries make some views from others
(:mod:`~recon.operators.backends.view_symmetry`; LoDoPaB-CT's angles: every
view from a quarter of them), only those views' rows are stored, and one
product applies them to the image and its rotated and mirrored copies at once.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from recon.files import atomic_path
from recon.geometry import Geometry
from recon.operators.backends.astra_cpu import astra_projector_type, create_cpu_projector
from recon.operators.backends.common import import_astra
from recon.operators.backends.view_symmetry import ViewSymmetry, find_view_symmetry, pixel_permutation

__all__ = ["SparseMatrixBackend", "estimate_sparse_bytes", "cache_directory"]

_BYTES_PER_NONZERO = 8  # float32 value + int32 column index


def cache_directory() -> Path:
    """Where system matrices are cached: ``$RECON_CACHE_DIR`` or ``~/.cache/recon``."""
    root = os.environ.get("RECON_CACHE_DIR") or Path.home() / ".cache" / "recon"
    return Path(root) / "matrices"


def stored_geometry(geometry: Geometry) -> tuple[Geometry, ViewSymmetry | None]:
    """The geometry of the views whose rows the backend stores, and the symmetry that makes the others.

    Without a symmetry that is ``geometry`` itself and None.
    """
    symmetry = find_view_symmetry(geometry)
    if symmetry is None:
        return geometry, None
    return geometry.with_angles(np.asarray(geometry.angles)[symmetry.stored_views]), symmetry


def estimate_sparse_bytes(geometry: Geometry, projector: str) -> int:
    """Upper estimate of the memory of both matrices, in bytes, before building.

    A ray of the ``line`` or ``linear`` model touches at most ``nx + ny``
    pixels, a ``strip`` ray about twice that; only the stored views' rays
    count (:func:`stored_geometry`). The estimate is close to the peak while
    building: for LoDoPaB's full matrix it gave 5.9 GB, the measured build
    peak was 6.2 GiB and the finished matrices held 3.6 GiB; its stored
    quarter is estimated at 1.5 GB.
    """
    stored, _ = stored_geometry(geometry)
    astra_type = astra_projector_type(geometry, projector)
    per_ray = sum(geometry.image_shape) * (2 if astra_type.startswith("strip") else 1)
    rays = stored.num_angles * stored.num_detectors
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


@contextmanager
def _torch_threads(num_threads: int | None):
    """Run the block with ``num_threads`` torch intra-op threads (None: unchanged)."""
    previous = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _SymmetricLayout:
    """Index tensors that turn the stored views' product into every view's (see :class:`ViewSymmetry`).

    The product of the stored rows with the ``M`` transformed images is ``(R * D, M * B)``; seen as
    ``(R * D * M, B)``, its row ``stored_row * M + m`` is stored row ``stored_row`` on the image under symmetry
    ``m``. ``view_rows`` picks each sinogram row ``(view, bin)`` from it; ``stored_sources`` says, for each of
    those rows, which sinogram row feeds it in the adjoint (``A * D``, one past the last, where none does).
    Everything is a gather (``index_select``), which is much faster than a scatter on the CPU.
    """

    def __init__(self, symmetry: ViewSymmetry, geometry: Geometry, num_stored_rows: int, device):
        size = geometry.image_shape[0]
        permutations = [pixel_permutation(g, size) for g in symmetry.transforms]
        rows, blocks = symmetry.row_sources(geometry.num_detectors)
        self.num_blocks = len(permutations)
        view_rows = rows * self.num_blocks + blocks
        stored_sources = np.full(num_stored_rows * self.num_blocks, len(view_rows), dtype=np.int64)
        stored_sources[view_rows] = np.arange(len(view_rows))
        self.pixels = [torch.from_numpy(p).to(device) for p in permutations]
        self.inverse_pixels = [torch.from_numpy(np.argsort(p)).to(device) for p in permutations]
        self.view_rows = torch.from_numpy(view_rows).to(device)
        self.stored_sources = torch.from_numpy(stored_sources).to(device)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in (*self.pixels, *self.inverse_pixels, self.view_rows, self.stored_sources))

    def images(self, flat: Tensor) -> Tensor:
        """``(B, P)`` flat images -> ``(P, M * B)``: each image under every symmetry, block by block.

        Gathered along the contiguous pixel axis, then transposed once (gathering rows of the transposed
        batch was 3.5x slower at 128² and batch 8).
        """
        return torch.cat([flat.index_select(1, p) for p in self.pixels]).T.contiguous()

    def views(self, product: Tensor) -> Tensor:
        """``(R * D, M * B)`` stored views' product -> ``(A * D, B)`` every view's."""
        return product.view(len(product) * self.num_blocks, -1).index_select(0, self.view_rows)

    def to_stored_rows(self, columns: Tensor) -> Tensor:
        """Adjoint of :meth:`views`: ``(A * D, B)`` -> ``(R * D, M * B)``, zero where no view reads."""
        padded = torch.cat([columns, columns.new_zeros(1, columns.shape[1])])
        gathered = padded.index_select(0, self.stored_sources)
        return gathered.view(len(gathered) // self.num_blocks, -1)

    def sum_images(self, product: Tensor) -> Tensor:
        """Adjoint of :meth:`images`: ``(P, M * B)`` -> ``(P, B)``."""
        blocks = product.view(len(product), self.num_blocks, -1)
        total = blocks[:, 0].index_select(0, self.inverse_pixels[0])
        for m in range(1, self.num_blocks):
            total += blocks[:, m].index_select(0, self.inverse_pixels[m])
        return total


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
    use_symmetry : bool
        Store only the views that the grid's symmetries do not make from
        others (default); False stores every view's rows (the benchmarks'
        reference).

    Attributes
    ----------
    symmetry : ViewSymmetry or None
        How the views not stored are made from the stored ones; None: every
        view is stored.
    nbytes : int
        Memory held by the forward and transposed matrices (and the
        symmetry's index tensors), bytes.
    """

    def __init__(
        self, geometry: Geometry, projector: str, *, cache: bool = True, num_threads: int | None = None,
        device: torch.device | str = "cpu", use_symmetry: bool = True,
    ):
        import scipy.sparse

        stored, self.symmetry = stored_geometry(geometry) if use_symmetry else (geometry, None)
        indptr, indices, data = load_or_build_csr(stored, projector, cache=cache)
        shape = (stored.num_angles * stored.num_detectors, int(np.prod(geometry.image_shape)))
        self.matrix = _torch_csr(indptr, indices, data, shape).to(device)
        transposed = scipy.sparse.csr_matrix((data, indices, indptr), shape=shape).T.tocsr()
        self.matrix_t = _torch_csr(
            transposed.indptr, transposed.indices, transposed.data, shape[::-1]
        ).to(device)
        self._layout = (None if self.symmetry is None
                        else _SymmetricLayout(self.symmetry, geometry, shape[0], device))
        self.num_threads = num_threads
        self.nbytes = sum(
            t.crow_indices().nbytes + t.col_indices().nbytes + t.values().nbytes
            for t in (self.matrix, self.matrix_t)
        ) + (0 if self._layout is None else self._layout.nbytes)

    def forward(self, volume: Tensor, out: Tensor) -> None:
        batch = len(volume)
        flat = volume.reshape(batch, -1)
        with _torch_threads(self.num_threads):
            if self._layout is None:
                product = torch.sparse.mm(self.matrix, flat.T.contiguous())
            else:
                product = self._layout.views(torch.sparse.mm(self.matrix, self._layout.images(flat)))
            out.view(batch, -1).copy_(product.T)

    def adjoint(self, sinogram: Tensor, out: Tensor) -> None:
        batch = len(sinogram)
        columns = sinogram.reshape(batch, -1).T
        with _torch_threads(self.num_threads):
            if self._layout is None:
                product = torch.sparse.mm(self.matrix_t, columns.contiguous())
            else:
                stored = self._layout.to_stored_rows(columns)
                product = self._layout.sum_images(torch.sparse.mm(self.matrix_t, stored))
            out.view(batch, -1).copy_(product.T)

    def close(self) -> None:
        del self.matrix, self.matrix_t, self._layout
