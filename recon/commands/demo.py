"""The main job on built-in data: a LoDoPaB-style comparison of classical and learned reconstructions.

Simulates a small test set at the 128x128, 360 angles, 183 bins preset with
LoDoPaB-CT's physics at 4096 photons per bin (random ellipse phantoms,
Shepp-Logan, FORBILD and real CT slices of pydicom and pydicom-data, none seen in
training), reconstructs it with FBP, TV, ODL's fbp_op (a peer; DeepInverse's
FBP too when it is installed) and every shipped learned model, prints the
table (PSNR, SSIM, data consistency, HU error and noise in soft tissue,
seconds per image, by subgroup) and saves the figure of examples (a real CT
slice among them) in a CT window (--window, default soft tissue W400/L40)
with error maps in HU. Needs no download; about two minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recon.commands.benchmark import add_window_argument
from recon.errors import UsageError
from recon.geometry import Geometry
from recon.version import __version__


def default_methods() -> list[str]:
    """``recon benchmark``'s defaults (FBP, TV, the peers) and every shipped model."""
    from recon.benchmark.methods import default_methods as benchmark_defaults
    from recon.training.checkpoint import shipped_models

    return [*benchmark_defaults(), *shipped_models()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=8,
                        help="test images, taken in turn from the phantom families and real CT slices (default 8)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="SPEC",
                        help="reconstructors as in `recon benchmark` (default: fbp tv odl-fbp, deepinv-fbp "
                             "when deepinv is installed, and every shipped model)")
    parser.add_argument("--output", type=Path, default=Path("outputs/demo"),
                        help="folder of the table, CSV/JSON and examples.png (default outputs/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of phantoms and noise (default 0)")
    add_window_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from recon.benchmark import RunConfig, benchmark, builtin_data

    if args.samples < 1:
        raise UsageError(f"--samples: expected a positive number of test images, got {args.samples}")
    methods = args.methods or default_methods()
    geometry = Geometry.lodopab_small()  # the shipped models' preset
    data = builtin_data(geometry, args.samples, seed=args.seed)
    # fresh: the demo is short, and a stale folder must not stand in for this version's results
    config = RunConfig(output=args.output, resume=False, progress=not args.quiet)
    outcome = benchmark(data, methods, config, cpu_backend="sparse", window=args.window,
                        metadata={"command": "recon demo", "samples": args.samples, "seed": args.seed,
                                  "recon_version": __version__})
    print(outcome.table)
    print("wrote " + ", ".join(str(path) for path in outcome.files.values()), file=sys.stderr)
    return 0
