"""Speed of recon's classical methods against ODL and ASTRA at LoDoPaB-CT's size.

* FBP (Hann, 0.641) of a 1000 x 513 sinogram to 362 x 362: recon (batch 1 and
  batch 8, time per image), ODL 1.0's ``fbp_op`` and ASTRA's CPU ``FBP``
  algorithm (both one image per call).
* One TV (PDHG) iteration against one forward plus one adjoint projection.
* One TV and one SIRT iteration per image on the two CPU backends: ``threads``
  (ASTRA's projector in a thread pool) and ``sparse`` (the stored quarter of
  ASTRA's system matrix, which ``auto`` now picks at this size), with the
  memory each operator holds.

Run ``python -m benchmarks.classical`` from the repository root; it rewrites the ``classical`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import torch

import recon
from benchmarks.common import (
    machine_description,
    markdown_table,
    median_seconds,
    write_section,
)
from recon.algorithms import fbp, sirt, tv
from recon.algorithms.astra_reference import astra_reference
from recon.data.phantoms import shepp_logan
from recon.operators.odl_geometry import geometry_to_odl


def benchmark_fbp(repeats: int) -> list[list[object]]:
    from odl.applications import tomo

    geometry = recon.Geometry.lodopab()
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan(362))[None, None]
    y1 = A(x)
    y8 = y1.repeat(8, 1, 1, 1)
    space, odl_geometry = geometry_to_odl(geometry)
    odl_fbp = tomo.fbp_op(tomo.RayTransform(space, odl_geometry, impl="astra_cpu"),
                          filter_type="Hann", frequency_scaling=0.641)
    odl_y = odl_fbp.domain.element(y1[0, 0].numpy())
    sinogram = y1[0, 0].numpy()
    timings = {
        "recon `fbp`, batch 1": median_seconds(lambda: fbp(y1, A), repeats=repeats),
        "recon `fbp`, batch 8": median_seconds(lambda: fbp(y8, A), repeats=repeats) / 8,
        "ODL 1.0 `fbp_op`": median_seconds(lambda: odl_fbp(odl_y), repeats=repeats),
        "ASTRA CPU `FBP`": median_seconds(
            lambda: astra_reference(sinogram, geometry, "FBP", FilterType="hann", FilterD=0.641),
            repeats=repeats),
    }
    slowest_peer = min(timings["ODL 1.0 `fbp_op`"], timings["ASTRA CPU `FBP`"])
    return [[name, f"{1000 * t:.0f}", f"{slowest_peer / t:.2f}x"] for name, t in timings.items()]


def _iteration_end_times(method, y: torch.Tensor, A: recon.RayTransform, start: torch.Tensor) -> list[float]:
    """``time.perf_counter()`` at the end of each of three iterations of ``method`` (tv or sirt)."""
    stamps: list[float] = []
    method(y, A, iterations=3, x0=start, callback=lambda k, _: stamps.append(time.perf_counter()))
    return stamps


def _lodopab_problem(backend: str, batch: int) -> tuple[recon.RayTransform, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Operator on ``backend``, ``batch`` Shepp-Logan images, their sinograms and FBPs; the operator's norm cached."""
    A = recon.RayTransform(recon.Geometry.lodopab(), cpu_backend=backend)
    x = torch.from_numpy(shepp_logan(362))[None, None].repeat(batch, 1, 1, 1)
    y = A(x)
    A.norm()  # cached once per operator, not part of an iteration
    return A, x, y, fbp(y, A)


def _seconds_per_iteration(method, y, A, start, repeats: int) -> float:
    """Median over ``repeats`` runs of the time between the ends of iterations 1, 2 and 3 (no set-up)."""
    steps: list[float] = []
    for _ in range(repeats):
        steps += [b - a for a, b in itertools.pairwise(_iteration_end_times(method, y, A, start))]
    return statistics.median(steps)


def benchmark_tv(repeats: int, batch: int) -> list[list[object]]:
    """Per-image ms of ``A^T A x`` and of one TV iteration on the default backend, measured in alternation."""
    A, x, y, start = _lodopab_problem("auto", batch)
    projections, steps = [], []
    for _ in range(repeats):
        projections.append(median_seconds(lambda: A.adjoint(A(x)), repeats=1, warmup=0))
        steps.append(_seconds_per_iteration(tv, y, A, start, repeats=1))
    projection, iteration = statistics.median(projections), statistics.median(steps)
    return [[f"batch {batch} ({A.resolved_cpu_backend()})", f"{1000 * projection / batch:.0f}",
             f"{1000 * iteration / batch:.0f}", f"{iteration / projection:.2f}"]]


def benchmark_backends(repeats: int, batch: int) -> list[list[object]]:
    """ms per image of one TV and one SIRT iteration on ``threads`` and on ``sparse``, and each operator's memory."""
    seconds, held = {}, {}
    for backend in ("threads", "sparse"):
        A, _, y, start = _lodopab_problem(backend, batch)
        held[backend] = getattr(A.backend_for(torch.device("cpu")), "nbytes", 0)
        for name, method in (("TV", tv), ("SIRT", sirt)):
            seconds[backend, name] = _seconds_per_iteration(method, y, A, start, repeats) / batch
        A.close()
    rows = []
    for name in ("TV", "SIRT"):
        threads, sparse = seconds["threads", name], seconds["sparse", name]
        rows.append([f"{name}, batch {batch}", f"{1000 * threads:.0f}", f"{1000 * sparse:.0f}",
                     f"{threads / sparse:.1f}x", f"{held['sparse'] / 2**30:.2f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args()
    fbp_rows = benchmark_fbp(args.repeats)
    tv_rows = benchmark_tv(args.repeats, 1) + benchmark_tv(args.repeats, 8)
    backend_rows = benchmark_backends(args.repeats, 1) + benchmark_backends(args.repeats, 8)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    markdown = "\n\n".join([
        "## Classical reconstruction (`benchmarks/classical.py`)",
        (f"Machine: {machine_description()}; load average at the end {load}. Medians of "
         f"{args.repeats} runs after one warm-up; LoDoPaB-CT size (362x362 image, 1000 angles, "
         "513 bins), Hann filter at 0.641."),
        "FBP, milliseconds per image (speed-up relative to the faster of ODL and ASTRA):",
        markdown_table(["method", "ms / image", "speed-up"], fbp_rows),
        "TV (PDHG) iteration against one forward plus one adjoint projection (target <= 1.2):",
        markdown_table(["batch (backend)", "A + A^T, ms / image", "TV iteration, ms / image", "ratio"],
                       tv_rows),
        ("Iterations on the two CPU backends, ms per image (target: sparse >= 5x threads). *sparse* stores "
         "the quarter of ASTRA's system matrix that the square grid's symmetries do not repeat (250 of the 1000 "
         "views, and its transpose); *memory* is what that operator holds (the threads backend holds no matrix). "
         "Each backend runs after the other, medians of the iterations of all runs:"),
        markdown_table(["method", "threads", "sparse", "speed-up", "sparse memory, GiB"], backend_rows),
    ])
    write_section("classical", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
