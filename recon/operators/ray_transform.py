"""``RayTransform``: the one projection operator of recon, as a torch module."""

from __future__ import annotations

import re
from typing import Literal, get_args

import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.operators.autograd import BackendOperator
from recon.operators.backends import Backend, create_backend
from recon.operators.backends.astra_cpu import astra_projector_type

__all__ = ["CpuBackend", "CudaBackend", "RayTransform", "parse_bytes"]

#: Backends of CPU tensors: ASTRA's CPU projector in a thread pool, the exact sparse matrix, or the
#: sparse matrix where it fits ``sparse_memory_budget``. The names of :data:`~recon.operators.backends.BACKENDS`.
CpuBackend = Literal["threads", "sparse", "auto"]
ProjectorName = Literal["linear", "line", "strip"]
#: Backends of CUDA tensors: ASTRA's CUDA projector, or the CPU projector's exact sparse matrix.
CudaBackend = Literal["astra", "sparse"]
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(size: int | str) -> int:
    """``2_000_000``, ``"512MiB"`` or ``"2 GB"`` as a number of bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(size))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a memory size such as '512MiB' or '2GB', got {size!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _check_projector(geometry: Geometry, projector: str) -> None:
    """Refuse a projector name at construction rather than at the first projection.

    2D geometries need one of ASTRA's CPU projectors for their beam (also the
    ``sparse`` backend's matrix); 3D ones run on CUDA, which ignores the name.
    """
    if geometry.ndim == 2:
        astra_projector_type(geometry, projector)  # raises ValueError naming the accepted ones
    elif projector not in get_args(ProjectorName):
        raise ValueError(f"projector: expected one of {get_args(ProjectorName)}, got {projector!r}")


class RayTransform(BackendOperator):
    """The discrete ray transform ``A`` of a :class:`~recon.Geometry` and its adjoint.

    ``A(x)`` maps float32 images ``(B, C, nx, ny)`` to sinograms
    ``(B, C, num_angles, num_detectors)``; ``A.adjoint(y)`` is the exact
    transpose of the same matrix (the backprojection, without any
    filtering or weighting). Both are differentiable any number of times:
    the gradient of one is the other. 3D geometries map
    ``(B, C, nx, ny, nz)`` to ``(B, C, num_angles, num_u, num_v)``.

    The backend follows the tensor's device:

    * CPU, ``cpu_backend="threads"`` (default): ASTRA's CPU projector, one
      call per sample, the batch spread over a thread pool.
    * CPU, ``cpu_backend="sparse"``: ASTRA's system matrix for this geometry,
      built once, cached on disk and applied with ``torch.sparse.mm`` -- much
      the fastest CPU backend, but it holds the matrix and its transpose in
      memory. On a square, centred grid only the views that the grid's
      symmetries do not make from others are stored
      (:mod:`~recon.operators.backends.view_symmetry`): about 0.9 GiB at
      LoDoPaB size, whose 1000 midpoint angles need a quarter of the rows.
    * CPU, ``cpu_backend="auto"``: ``sparse`` when its estimated memory fits
      ``sparse_memory_budget``, else ``threads``.
    * CUDA, ``cuda_backend="astra"`` (default), 2D parallel and 3D: ASTRA's
      CUDA projectors on the tensor's own GPU memory. Their
      projector/backprojector pair is not exactly matched (dot test about
      2e-5 for parallel beam, 1.5e-2 for cone beam).
    * CUDA, 2D fan beam, or 2D parallel beam with ``cuda_backend="sparse"``:
      the ``sparse`` backend's matrix in cuSPARSE (fan beam always, because
      ASTRA's CUDA fan-beam backprojector is far from the adjoint of its
      projector: dot test 0.77). The CPU projector's numbers, exact adjoint,
      so a model trained on a GPU sees the operator it will meet on a CPU; a
      matrix pair larger than the GPU's free memory is refused before it is
      built (``MemoryError``).

    Parameters
    ----------
    geometry : Geometry
        Acquisition geometry; lengths in metres, so sinogram values are line
        integrals in (image units) x metres.
    projector : {"linear", "line", "strip"}, optional
        ASTRA's CPU discretisation. Default ``"linear"`` (Joseph) for
        parallel beam and ``"line"`` for fan beam, as ODL does.
    cpu_backend : {"threads", "sparse", "auto"}
        See above.
    cuda_backend : {"astra", "sparse"}
        See above; ``"sparse"`` needs a 2D geometry.
    sparse_memory_budget : int or str
        Largest matrix memory ``"auto"`` accepts, e.g. ``"2GiB"``.
    num_threads : int, optional
        Threads of the CPU backend: ASTRA calls in parallel for ``threads``,
        torch intra-op threads for ``sparse``; default all available cores
        (``threads``) or torch's setting (``sparse``).

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=64, num_angles=30, num_detectors=91))
    >>> y = A(torch.ones(2, 1, 64, 64))
    >>> tuple(y.shape), tuple(A.adjoint(y).shape)
    ((2, 1, 30, 91), (2, 1, 64, 64))
    """

    def __init__(
        self,
        geometry: Geometry,
        *,
        projector: ProjectorName | None = None,
        cpu_backend: CpuBackend = "threads",
        cuda_backend: CudaBackend = "astra",
        sparse_memory_budget: int | str = "2GiB",
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(geometry, Geometry):
            raise TypeError(f"geometry: expected a recon.Geometry, got {type(geometry).__name__}")
        if cpu_backend not in get_args(CpuBackend):
            raise ValueError(
                f"cpu_backend: expected 'threads', 'sparse' or 'auto', got {cpu_backend!r}"
            )
        if cuda_backend not in get_args(CudaBackend):
            raise ValueError(f"cuda_backend: expected 'astra' or 'sparse', got {cuda_backend!r}")
        if cuda_backend == "sparse" and geometry.ndim != 2:
            raise ValueError(f"cuda_backend: 'sparse' needs a 2D geometry, got a {geometry.kind!r} one")
        self.geometry = geometry
        self.projector = projector or geometry.facts.default_projector
        _check_projector(geometry, self.projector)
        self.cpu_backend = cpu_backend
        self.cuda_backend = cuda_backend
        self.sparse_memory_budget = parse_bytes(sparse_memory_budget)
        self.num_threads = num_threads
        self.domain_shape = geometry.image_shape
        self.range_shape = geometry.sinogram_shape
        self._backends: dict[str, Backend] = {}

    # ----------------------------------------------------------------- backends
    def resolved_cpu_backend(self) -> Literal["threads", "sparse"]:
        """The CPU backend this operator uses, ``"auto"`` resolved."""
        if self.cpu_backend != "auto":
            return self.cpu_backend
        from recon.operators.backends.sparse import estimate_sparse_bytes

        fits = estimate_sparse_bytes(self.geometry, self.projector) <= self.sparse_memory_budget
        return "sparse" if fits else "threads"

    def backend_for(self, device: torch.device) -> Backend:
        """The backend that serves tensors on ``device`` (created on first use)."""
        key = str(device)
        if key not in self._backends:
            if device.type == "cuda" and "sparse" in (self.geometry.facts.cuda_backend, self.cuda_backend):
                self._check_sparse_fits_on(device)
                self._backends[key] = create_backend("sparse", self.geometry, self.projector, device=device)
            elif device.type == "cuda":
                self._backends[key] = create_backend(
                    "astra", self.geometry, self.projector, device=device
                )
            elif device.type == "cpu":
                name = self.resolved_cpu_backend()
                self._backends[key] = create_backend(
                    name, self.geometry, self.projector, num_threads=self.num_threads
                )
            else:
                raise ValueError(f"device: expected a CPU or CUDA tensor, got device {device}")
        return self._backends[key]

    def _check_sparse_fits_on(self, device: torch.device) -> None:
        """Refuse, before building, a sparse matrix pair larger than the GPU's free memory."""
        from recon.operators.backends.sparse import estimate_sparse_bytes

        needed = estimate_sparse_bytes(self.geometry, self.projector)
        free, _ = torch.cuda.mem_get_info(device)
        if needed > free:
            raise MemoryError(
                f"{self.geometry.kind} beam on {device}: expected room for the exact sparse matrix and its transpose "
                f"(upper estimate {needed / 2**30:.2f} GiB), got {free / 2**30:.2f} GiB of free GPU "
                "memory; use fewer angles, detector bins or pixels, run on the CPU, or for parallel beam "
                "cuda_backend='astra'"
            )

    def close(self) -> None:
        """Free the ASTRA objects and matrices now (also done on garbage collection)."""
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_backends"] = {}  # native handles belong to one process
        return state

    # ---------------------------------------------------------------- applying
    def check_input(self, data: Tensor, *, adjoint: bool) -> Tensor:
        """``data`` if it is a float32 CPU or CUDA batch of sinograms (``adjoint``) or images, else an error.

        ``forward`` maps images ``(B, C, *image_shape)`` to sinograms
        ``(B, C, *sinogram_shape)``, ``adjoint`` the reverse.

        Raises
        ------
        TypeError
            Not a tensor, or not float32.
        ValueError
            Another shape (the message gives this geometry's), or another device.
        """
        shape, what = (self.range_shape, "sinogram") if adjoint else (self.domain_shape, "image")
        if not isinstance(data, Tensor):
            raise TypeError(f"{what}: expected a torch.Tensor, got {type(data).__name__}")
        expected = f"(B, C, {', '.join(map(str, shape))})"
        if data.dim() != len(shape) + 2:
            raise ValueError(
                f"{what}: expected a {len(shape) + 2}-D tensor of shape {expected}, "
                f"got shape {tuple(data.shape)}"
            )
        if tuple(data.shape[2:]) != shape:
            raise ValueError(
                f"{what}: expected shape {expected} for this geometry, got {tuple(data.shape)}"
            )
        if data.dtype != torch.float32:
            raise TypeError(f"{what}: expected dtype torch.float32, got {data.dtype}")
        if data.device.type not in ("cpu", "cuda"):
            raise ValueError(f"{what}: expected a CPU or CUDA tensor, got device {data.device}")
        return data

    def apply_backend(self, data: Tensor, *, adjoint: bool) -> Tensor:
        """Run the backend on a checked batch; no autograd here."""
        batch, channels = data.shape[:2]
        in_shape, out_shape = (
            (self.range_shape, self.domain_shape) if adjoint else (self.domain_shape, self.range_shape)
        )
        flat = data.detach().reshape(batch * channels, *in_shape).contiguous()
        out = torch.empty((batch * channels, *out_shape), dtype=torch.float32, device=data.device)
        if len(flat):
            backend = self.backend_for(data.device)
            (backend.adjoint if adjoint else backend.forward)(flat, out)
        return out.reshape(batch, channels, *out_shape)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"kind={g.kind}, image_shape={g.image_shape}, sinogram_shape={g.sinogram_shape}, "
            f"projector={self.projector!r}, cpu_backend={self.cpu_backend!r}, cuda_backend={self.cuda_backend!r}"
        )
