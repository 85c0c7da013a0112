"""Speed of recon's classical methods against ODL and ASTRA at LoDoPaB-CT's size.

* FBP (Hann, 0.641) of a 1000 x 513 sinogram to 362 x 362: recon (batch 1 and
  batch 8, time per image), ODL 1.0's ``fbp_op`` and ASTRA's CPU ``FBP``
  algorithm (both one image per call).
* One TV (PDHG) iteration against one forward plus one adjoint projection.

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
from recon.algorithms import fbp, tv
from recon.algorithms.astra_reference import astra_reference
from recon.data.phantoms import shepp_logan


def benchmark_fbp(repeats: int) -> list[list[object]]:
    from odl.applications import tomo

    geometry = recon.Geometry.lodopab()
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan(362))[None, None]
    y1 = A(x)
    y8 = y1.repeat(8, 1, 1, 1)
    space, odl_geometry = geometry.to_odl()
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


def _iteration_end_times(y: torch.Tensor, A: recon.RayTransform, start: torch.Tensor) -> list[float]:
    """``time.perf_counter()`` at the end of each of three TV iterations."""
    stamps: list[float] = []
    tv(y, A, iterations=3, x0=start, callback=lambda k, _: stamps.append(time.perf_counter()))
    return stamps


def benchmark_tv(repeats: int, batch: int) -> list[list[object]]:
    """Per-image ms of ``A^T A x`` and of one TV iteration, measured in alternation."""
    geometry = recon.Geometry.lodopab()
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan(362))[None, None].repeat(batch, 1, 1, 1)
    y = A(x)
    A.norm()  # cached once per operator, not part of an iteration
    start = fbp(y, A)
    projections, steps = [], []
    for _ in range(repeats):
        projections.append(median_seconds(lambda: A.adjoint(A(x)), repeats=1, warmup=0))
        stamps = _iteration_end_times(y, A, start)
        # Between the ends of iterations 1, 2 and 3: whole iterations, no set-up.
        steps += [b - a for a, b in itertools.pairwise(stamps)]
    projection, iteration = statistics.median(projections), statistics.median(steps)
    return [[f"batch {batch}", f"{1000 * projection / batch:.0f}",
             f"{1000 * iteration / batch:.0f}", f"{iteration / projection:.2f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args()
    fbp_rows = benchmark_fbp(args.repeats)
    tv_rows = benchmark_tv(args.repeats, 1) + benchmark_tv(args.repeats, 8)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    markdown = "\n\n".join([
        "## Classical reconstruction (`benchmarks/classical.py`)",
        (f"Machine: {machine_description()}; load average at the end {load}. Medians of "
         f"{args.repeats} runs after one warm-up; LoDoPaB-CT size (362x362 image, 1000 angles, "
         "513 bins), Hann filter at 0.641."),
        "FBP, milliseconds per image (speed-up relative to the faster of ODL and ASTRA):",
        markdown_table(["method", "ms / image", "speed-up"], fbp_rows),
        "TV (PDHG) iteration against one forward plus one adjoint projection (target <= 1.2):",
        markdown_table(["batch", "A + A^T, ms / image", "TV iteration, ms / image", "ratio"],
                       tv_rows),
    ])
    write_section("classical", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
