"""ASTRA CUDA projectors working on CUDA tensors in place (ASTRA >= 2.5).

ASTRA's ``direct_FP`` / ``direct_BP`` read and write the tensors' own GPU
memory through DLPack: no host round trip. A whole batch of 2D parallel-beam
images is one ASTRA call, as the slices of a 3D parallel geometry with one
detector row per slice; 3D volumes go one sample at a time.

ASTRA's CUDA projector and backprojector are not an exactly matched pair: the
normalised dot test gives about 2e-5 for 2D parallel beam and 1.5e-2 for cone
beam (measured on an H100) rather than float32 rounding. Its fan-beam pair
is far from adjoint (0.77), so 2D fan-beam CUDA tensors use the sparse
backend instead (:mod:`recon.operators.backends.sparse`).
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.operators.backends.astra_geometry import astra_geometries_3d
from recon.operators.backends.common import BackendUnavailableError, import_astra

__all__ = ["AstraCudaBackend"]


class AstraCudaBackend:
    """ASTRA CUDA projection of CUDA tensors on one device.

    Parameters
    ----------
    geometry : Geometry
        A 2D parallel-beam or a 3D geometry.
    device : torch.device
        The CUDA device whose tensors this backend processes.
    """

    def __init__(self, geometry: Geometry, *, device: torch.device):
        if geometry.kind == "fan":
            raise ValueError("geometry: the ASTRA CUDA backend takes 2D parallel or 3D geometries, got a "
                             "fan-beam one (use the sparse backend: ASTRA's CUDA fan-beam pair is not adjoint)")
        astra = import_astra()  # not kept as an attribute: see AstraCpuBackend
        if not astra.use_cuda():
            raise BackendUnavailableError(
                "CUDA tensors need a CUDA-enabled astra-toolbox and a visible GPU; "
                "astra.use_cuda() is False here (install astra-toolbox==2.5.0 from PyPI "
                "on a machine with an NVIDIA driver)"
            )
        self.geometry = geometry
        self.device = torch.device(device)
        self._projectors: dict[int, int] = {}
        self._finalizer = weakref.finalize(self, _delete_all, astra, self._projectors)

    def _projector(self, num_slices: int) -> int:
        if num_slices not in self._projectors:
            vol_geom, proj_geom = astra_geometries_3d(self.geometry, num_slices)
            self._projectors[num_slices] = import_astra().create_projector(
                "cuda3d", proj_geom, vol_geom
            )
        return self._projectors[num_slices]

    def _select_device(self) -> None:
        import_astra().set_gpu_index(self.device.index or 0)
        torch.cuda.current_stream(self.device).synchronize()

    def forward(self, volume: Tensor, out: Tensor) -> None:
        self._select_device()
        fp = import_astra().projector3d.direct_FP
        if self.geometry.kind == "parallel":
            fp(self._projector(len(volume)), volume, out=out)
        else:
            buffer = torch.empty(_astra_sinogram_shape(self.geometry), device=self.device)
            for i in range(len(volume)):
                fp(self._projector(1), volume[i], out=buffer)
                out[i].copy_(buffer.permute(1, 0, 2))

    def adjoint(self, sinogram: Tensor, out: Tensor) -> None:
        self._select_device()
        bp = import_astra().projector3d.direct_BP
        if self.geometry.kind == "parallel":
            bp(self._projector(len(sinogram)), sinogram, out=out)
        else:
            for i in range(len(sinogram)):
                bp(self._projector(1), sinogram[i].permute(1, 0, 2).contiguous(), out=out[i])

    def close(self) -> None:
        self._finalizer()


def _astra_sinogram_shape(geometry: Geometry) -> tuple[int, int, int]:
    """ASTRA's projection layout ``(num_u, num_angles, num_v)`` for a 3D geometry."""
    num_u, num_v = geometry.detector_shape
    return (num_u, geometry.num_angles, num_v)


def _delete_all(astra, projectors: dict[int, int]) -> None:
    for projector_id in projectors.values():
        astra.projector3d.delete(projector_id)
    projectors.clear()
