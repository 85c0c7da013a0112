"""Benchmark reconstructors on one dataset: LoDoPaB-style table, CSV, JSON, Markdown and a figure.

Methods are specs: fbp, sirt, cgls, landweber, tv with parameters
(``tv:weight=0.1,iterations=200``), the peers odl-fbp (ODL's fbp_op) and
deepinv-fbp (DeepInverse's Tomography FBP; needs the deepinv extra, ``pip install -e ".[deepinv]"``), a
checkpoint file or a shipped model name (``lpd-small``). Data: --data FILE.h5 (recon
simulate) or --data FOLDER (LoDoPaB-CT layout, --part); without --data,
built-in phantoms and real CT slices (pydicom, pydicom-data) simulated at --photons (several
values sweep the dose). Running the same command again with the same --output
resumes: finished methods are read back, not recomputed.

Example: ``recon benchmark --methods fbp tv odl-fbp lpd-small --samples 16 --output bench``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recon.commands.simulate import size_options
from recon.errors import UsageError
from recon.geometry import SMALL_PRESET
from recon.version import __version__


def add_window_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--window`` option of the figure (:func:`recon.plotting.ct_window`), shared with ``recon demo``."""
    from recon.plotting import CT_WINDOWS, ct_window

    def window(text: str) -> str:  # checked here, kept as text (it is recorded in summary.json)
        try:
            ct_window(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    names = ", ".join(f"{name} (W{w.width:g}/L{w.level:g})" for name, w in CT_WINDOWS.items())
    parser.add_argument("--window", type=window, default="soft", metavar="NAME|W,L",
                        help=f"CT window of examples.png in HU: {names} or width,level (default soft)")


_BUILTIN_ONLY = ("photons", "geometry", "image_size", "num_angles", "num_detectors", "angle_step", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", nargs="+", default=None, metavar="SPEC",
                        help="reconstructors: fbp, fbp:filter=hann,frequency_scaling=0.641, tv:weight=0.1, "
                             "sirt:iterations=100, cgls:iterations=30, odl-fbp, deepinv-fbp (needs deepinv), "
                             "a checkpoint file or a shipped model name (default: fbp tv odl-fbp, and "
                             "deepinv-fbp when deepinv is installed)")
    parser.add_argument("--output", type=Path, required=True,
                        help="folder receiving results.csv, summary.json, summary.md, examples*.png")
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, metavar="PATH",
                      help="recon HDF5 file or LoDoPaB-CT folder (default: built-in simulated data)")
    data.add_argument("--part", default=None, help="LoDoPaB part of a folder (default test; only for a folder)")
    data.add_argument("--samples", type=int, default=None,
                      help="number of samples (built-in default 16; files: the first N, default all)")
    builtin = parser.add_argument_group("built-in data (without --data)")
    builtin.add_argument("--photons", type=float, nargs="+", default=None, metavar="N0",
                         help="photons per bin; several values sweep the dose (default 4096)")
    builtin.add_argument("--geometry", choices=("parallel", "fan", "lodopab"), default=None,
                         help="preset on LoDoPaB's field of view (default parallel); 'lodopab' is 362x362, "
                              "1000 angles, 513 bins and ignores the size options")
    for option, default, text in size_options():
        builtin.add_argument(option, type=int, default=None, help=f"{text} (default {default})")
    builtin.add_argument("--angle-step", type=int, default=None,
                         help="sparse view: keep every N-th angle (default 1)")
    builtin.add_argument("--seed", type=int, default=None, help="seed of phantoms and noise (default 0)")
    run = parser.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=8, help="sinograms per call (default 8)")
    run.add_argument("--examples", type=int, default=3, help="example images in the figure (default 3)")
    add_window_argument(run)
    run.add_argument("--cpu-backend", choices=("threads", "sparse"), default="threads",
                     help="CPU backend of the ray transforms (default threads)")
    run.add_argument("--fresh", action="store_true", help="recompute every method, ignoring finished ones")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _levels(args: argparse.Namespace) -> list:
    """The data levels the arguments describe: one file or folder, or built-in data per dose."""
    from recon.benchmark import builtin_data, open_data
    from recon.commands.simulate import build_geometry

    if args.data is None and args.part is not None:
        raise UsageError("--part: only for a LoDoPaB folder given with --data")
    if args.data is not None:
        misplaced = [f"--{name.replace('_', '-')}" for name in _BUILTIN_ONLY if getattr(args, name) is not None]
        if misplaced:
            raise UsageError(f"{', '.join(misplaced)}: only for built-in data, not with --data")
        if args.part is not None and not args.data.is_dir():
            raise UsageError(f"--part: only for a LoDoPaB folder, not for the file {args.data}")
        return [open_data(args.data, part=args.part or "test", num_samples=args.samples)]

    def given(name: str, default):
        value = getattr(args, name)
        return default if value is None else value

    geometry = build_geometry(argparse.Namespace(
        geometry=given("geometry", "parallel"), angle_step=given("angle_step", 1),
        **{name: given(name, default) for name, default in SMALL_PRESET.items()}))
    return builtin_data(geometry, given("samples", 16), photons=given("photons", [4096]), seed=given("seed", 0))


def _arguments(args: argparse.Namespace) -> dict:
    """The command's arguments as JSON values (paths as strings)."""
    return {name: str(value) if isinstance(value, Path) else value
            for name, value in vars(args).items() if not name.startswith("_") and not callable(value)}


def run(args: argparse.Namespace) -> int:
    from recon.benchmark import RunConfig, benchmark
    from recon.benchmark.methods import default_methods
    from recon.benchmark.runner import REFERENCE

    config = RunConfig(output=args.output, batch_size=args.batch_size, examples=args.examples,
                       resume=not args.fresh, progress=not args.quiet)
    levels = _levels(args)
    methods = args.methods if args.methods is not None else default_methods()
    outcome = benchmark(levels, methods, config, cpu_backend=args.cpu_backend, window=args.window,
                        metadata={"arguments": _arguments(args), "recon_version": __version__})
    print(outcome.table)
    reused = sorted({result.method for result in outcome.results if result.reused and result.method != REFERENCE})
    if reused:
        print(f"reused finished results of {', '.join(reused)} (--fresh recomputes them)", file=sys.stderr)
    print("wrote " + ", ".join(str(path) for path in outcome.files.values()), file=sys.stderr)
    return 0
