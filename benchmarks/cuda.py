"""Speed of recon's ray transform and learned models on a CUDA GPU.

* Operators: forward and adjoint milliseconds per image at batch 1 and 8 for
  2D parallel beam (ASTRA CUDA, the whole batch as the slices of one 3D
  parallel geometry), 2D fan beam (the CPU projector's system matrix in
  cuSPARSE) and cone beam (ASTRA CUDA, sample by sample), with the normalised
  dot test of each. Peers in the same process: for parallel beam a plain loop
  of raw ASTRA ``direct_FP`` / ``direct_BP`` calls, one image per call, on the
  same GPU memory (what a per-sample bridge such as tomosipo's does); for fan
  beam ASTRA's own 2D CUDA fan-beam projector through ``astra.create_sino`` /
  ``create_backprojection`` (host arrays in and out, the classic path), whose
  pair is not adjoint.
* Learned models: inference seconds per image of the shipped architectures
  (``experiments/*_small.yaml``, untrained) at 128²/360/183 and LoDoPaB size,
  and one training step of Learned Primal-Dual (batch 8) in float32 and with
  mixed precision.

CUDA times are medians of repeated runs, each closed by
``torch.cuda.synchronize()``. Run from the repository root on a CUDA machine::

    python -m benchmarks.cuda            # writes the "cuda" section of docs/benchmarks.md
    python -m benchmarks.cuda --quick    # 128² only, prints, writes nothing
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import recon
from benchmarks.common import DOCS, machine_description, markdown_table, median_seconds, write_section
from benchmarks.models import model_arguments, sinograms, training_step
from recon.geometry import SMALL_PRESET
from recon.models import MODELS, build_model
from recon.operators.backends.astra_geometry import astra_geometries_2d, astra_geometries_3d


def cuda_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``function()`` with the GPU's work finished inside each run."""
    def run() -> None:
        function()
        torch.cuda.synchronize()

    return median_seconds(run, repeats=repeats, warmup=2)


def raw_astra_loop(geometry: recon.Geometry) -> tuple[Callable, Callable]:
    """Forward and adjoint by raw ASTRA ``direct_FP`` / ``direct_BP``, one image per call."""
    import astra

    vol_geom, proj_geom = astra_geometries_3d(geometry, 1)
    projector = astra.create_projector("cuda3d", proj_geom, vol_geom)

    def forward(x: torch.Tensor, out: torch.Tensor) -> None:
        for i in range(len(x)):
            astra.projector3d.direct_FP(projector, x[i, :1], out=out[i, :1])

    def adjoint(y: torch.Tensor, out: torch.Tensor) -> None:
        for i in range(len(y)):
            astra.projector3d.direct_BP(projector, y[i, :1], out=out[i, :1])

    return forward, adjoint


def astra_2d_fan(geometry: recon.Geometry) -> tuple[Callable, Callable]:
    """ASTRA's 2D CUDA fan-beam projector through ``create_sino`` / ``create_backprojection``."""
    import astra

    vol_geom, proj_geom = astra_geometries_2d(geometry)
    projector = astra.create_projector("cuda", proj_geom, vol_geom)

    def forward(x: np.ndarray) -> np.ndarray:
        sinogram_id, sinogram = astra.create_sino(x, projector)
        astra.data2d.delete(sinogram_id)
        return sinogram

    def adjoint(y: np.ndarray) -> np.ndarray:
        image_id, image = astra.create_backprojection(y, projector)
        astra.data2d.delete(image_id)
        return image

    return forward, adjoint


def operator_rows(geometries: dict[str, recon.Geometry], repeats: int) -> list[list[object]]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for label, geometry in geometries.items():
        operator = recon.RayTransform(geometry)
        backend = type(operator.backend_for(torch.device("cuda"))).__name__
        dot = recon.dot_test(operator, device="cuda")
        for batch in (1, 8):
            x = torch.rand((batch, 1, *geometry.image_shape), generator=generator).cuda()
            y = torch.rand((batch, 1, *geometry.sinogram_shape), generator=generator).cuda()
            ours = [cuda_seconds(functools.partial(operator, x), repeats) / batch,
                    cuda_seconds(functools.partial(operator.adjoint, y), repeats) / batch]
            peer, peer_times = "", ["", ""]
            if geometry.kind == "parallel":
                forward, adjoint = raw_astra_loop(geometry)
                y_out, x_out = torch.empty_like(y), torch.empty_like(x)
                peer = "raw ASTRA direct_FP/BP loop"
                peer_times = [cuda_seconds(functools.partial(forward, x, y_out), repeats) / batch,
                              cuda_seconds(functools.partial(adjoint, y, x_out), repeats) / batch]
            elif geometry.kind == "fan" and batch == 1:
                forward, adjoint = astra_2d_fan(geometry)
                image, sinogram = x[0, 0].cpu().numpy(), y[0, 0].cpu().numpy()
                peer = "ASTRA 2D CUDA fan (create_sino, host arrays)"
                peer_times = [median_seconds(functools.partial(forward, image), repeats=repeats, warmup=2),
                              median_seconds(functools.partial(adjoint, sinogram), repeats=repeats, warmup=2)]
            cells = [f"{1e3 * t:.3f}" for t in ours] + [f"{1e3 * t:.3f}" if t else "" for t in peer_times]
            ratios = [f"{p / o:.1f}×" if p else "" for o, p in zip(ours, peer_times)]
            row = [label, backend, batch, *cells[:2], peer, *cells[2:], *ratios, f"{dot:.1e}"]
            print(row, flush=True)
            rows.append(row)
        operator.close()
    return rows


def model_rows(geometries: dict[str, recon.Geometry], repeats: int) -> list[list[object]]:
    rows = []
    for label, geometry in geometries.items():
        norm = recon.RayTransform(geometry).norm(iterations=10, rtol=1e-3)
        for name in sorted(MODELS):
            torch.manual_seed(0)
            model = build_model(name, geometry=geometry, **model_arguments(name)).cuda().eval()
            model.operator_norm.fill_(norm)
            cells = []
            for batch in (1, 8):
                y = sinograms(geometry, batch)[0].cuda()
                with torch.no_grad():
                    cells.append(f"{cuda_seconds(functools.partial(model, y), repeats) / batch:.4f}")
            print(label, name, cells, flush=True)
            rows.append([name, label, *cells])
    return rows


def training_rows(geometry: recon.Geometry, repeats: int) -> list[list[object]]:
    norm = recon.RayTransform(geometry).norm(iterations=10, rtol=1e-3)
    y, x = (t.cuda() for t in sinograms(geometry, 8))
    rows = []
    for primal, dual in ((16, 16), (32, 8), (32, 32)):
        for mixed in (False, True):
            torch.manual_seed(0)
            arguments = {**model_arguments("lpd"), "hidden_channels": primal, "dual_hidden_channels": dual}
            model = build_model("lpd", geometry=geometry, **arguments).cuda().train()
            model.operator_norm.fill_(norm)
            step = training_step(model, y, x)

            def run(step=step, mixed=mixed) -> None:
                with torch.autocast("cuda", dtype=torch.float16, enabled=mixed):
                    step()

            seconds = cuda_seconds(run, repeats)
            rows.append(["lpd", f"{primal}/{dual}", "float16 autocast" if mixed else "float32", f"{seconds:.3f}"])
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per cell (default 10)")
    parser.add_argument("--quick", action="store_true", help="128² only, 3 repeats, nothing written")
    parser.add_argument("--report", type=Path, default=DOCS, help="the Markdown report to update")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.cuda: needs a CUDA GPU (torch.cuda.is_available() is False)")
    start = time.perf_counter()
    repeats = 3 if args.quick else args.repeats
    small = {"parallel 128²/360/183": recon.Geometry.lodopab_small(),
             "fan 128²/360/183": recon.Geometry.fan(**SMALL_PRESET)}
    large = {} if args.quick else {
        "parallel LoDoPaB 362²/1000/513": recon.Geometry.lodopab(),
        "fan 362²/1000/513": recon.Geometry.fan(image_size=362, num_angles=1000, num_detectors=513),
        "cone 128³/360/192×128": recon.Geometry.cone(volume_size=128, num_angles=360, detector_size=(192, 128)),
    }
    operators = operator_rows({**small, **large}, repeats)
    models = model_rows({"128²/360/183": small["parallel 128²/360/183"],
                         **({} if args.quick else {"LoDoPaB 362²/1000/513": recon.Geometry.lodopab()})}, repeats)
    training = training_rows(small["parallel 128²/360/183"], repeats)
    minutes = (time.perf_counter() - start) / 60
    markdown = "\n\n".join([
        "## Operators and learned models on CUDA (`benchmarks/cuda.py`)",
        (f"Machine: {torch.cuda.get_device_name()} (torch {torch.__version__}); host {machine_description()}; "
         f"the run took {minutes:.1f} min. Medians of {repeats} runs after 2 warm-ups, each closed by "
         "`torch.cuda.synchronize()`; inputs and outputs stay on the GPU except in the ASTRA 2D fan-beam row. "
         "Ratios are peer time / recon time in this run."),
        "**Ray transform**, milliseconds per image (dot test: normalised adjoint mismatch, 0 for an exact adjoint)",
        markdown_table(["geometry", "recon backend", "batch", "recon A", "recon Aᵀ", "peer", "peer A", "peer Aᵀ",
                        "A speed-up", "Aᵀ speed-up", "recon dot test"], operators),
        "**Inference**, seconds per image (untrained, architectures of `experiments/*_small.yaml`)",
        markdown_table(["model", "geometry", "batch 1", "batch 8"], models),
        "**One Learned Primal-Dual training step** at 128²/360/183, batch 8 (forward, MSE, backward, Adam), seconds",
        markdown_table(["model", "hidden channels (primal/dual)", "precision", "seconds"], training),
    ])
    print(markdown)
    if not args.quick:
        write_section("cuda", markdown, args.report)


if __name__ == "__main__":
    main()
