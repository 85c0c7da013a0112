"""Project and backproject a phantom with recon's ray transform and save a figure.

Prints the geometry, timings, the adjoint (dot) test and the operator norm,
and writes a PNG of phantom, sinogram and backprojection.
"""

from __future__ import annotations

import argparse
import time

import torch

from recon.data.phantoms import shepp_logan
from recon.geometry import Geometry
from recon.operators import RayTransform, dot_test


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    parser.add_argument("--angles", type=int, default=360, help="number of angles (default 360)")
    parser.add_argument("--detectors", type=int, default=183, help="detector bins (default 183)")
    parser.add_argument("--output", default="outputs/demo.png", help="figure path (default outputs/demo.png)")


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recon.plotting import save_figure, show_image, show_sinogram

    geometry = Geometry.parallel(image_size=args.size, num_angles=args.angles, num_detectors=args.detectors)
    operator = RayTransform(geometry)
    phantom = torch.from_numpy(shepp_logan(geometry.image_shape))[None, None]

    start = time.perf_counter()
    sinogram = operator(phantom)
    forward_ms = 1e3 * (time.perf_counter() - start)
    start = time.perf_counter()
    backprojection = operator.adjoint(sinogram)
    adjoint_ms = 1e3 * (time.perf_counter() - start)

    print(f"geometry      {geometry.kind} beam, image {geometry.image_shape}, "
          f"sinogram {geometry.sinogram_shape}, pixel {1e3 * geometry.pixel_size[0]:.3f} mm")
    print(f"projection    {forward_ms:.1f} ms, max line integral {sinogram.max():.4f} m")
    print(f"backprojection {adjoint_ms:.1f} ms")
    print(f"dot test      {dot_test(operator):.2e} (normalised |<Ax,y> - <x,A^T y>|)")
    print(f"operator norm {operator.norm():.4f}")

    figure, axes = plt.subplots(1, 3, figsize=(12, 4))
    show_image(axes[0], phantom[0, 0], title="phantom (Shepp-Logan)")
    show_sinogram(axes[1], sinogram[0, 0], title="sinogram A x")
    show_image(axes[2], backprojection[0, 0], title="backprojection A^T A x")
    path = save_figure(figure, args.output)
    plt.close(figure)
    print(f"figure        {path}")
    return 0
