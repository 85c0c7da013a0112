"""Reconstruct your own sinograms with any method and write images a viewer opens.

INPUT is a recon HDF5 file (``recon simulate``; ground truths optional), a
LoDoPaB-CT folder (``--part``), or NumPy sinograms ``.npy``/``.npz`` of shape
``(N, A, D)`` or ``(A, D)`` with ``--geometry`` (a preset name or a
``Geometry.to_json()`` file) and, for pre-log data, ``--counts --photons N0``.
The method is any spec ``recon benchmark`` accepts: ``fbp``,
``tv:weight=1e-6,data_term=wls``, ``lpd-small``, a checkpoint file,
``mymodule:function`` or ``path/to/file.py:function``. The output's suffix
chooses the format: ``.h5`` (recon), ``.nii.gz`` (NIfTI), ``.dcm`` (a folder of
DICOM slices), ``.tif`` (16-bit, HU + 1024), ``.png`` (previews in ``--window``).
Running the same command again after an interruption resumes where it stopped.

Example: ``recon reconstruct scan.npy --geometry lodopab-small --method tv --output scan.nii.gz``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recon.commands.simulate import size_options
from recon.errors import UsageError
from recon.geometry import SMALL_PRESET, Geometry

#: Geometry names of ``--geometry`` (sizes from the size options for parallel and fan).
GEOMETRY_NAMES = ("lodopab-small", "lodopab", "parallel", "fan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="INPUT",
                        help="recon HDF5 file, LoDoPaB-CT folder, or NumPy sinograms (.npy, .npz)")
    parser.add_argument("--method", required=True, metavar="SPEC",
                        help="fbp, tv:weight=1e-6, sirt:iterations=100, lpd-small, a checkpoint file, "
                             "module:function or file.py:function")
    parser.add_argument("--output", type=Path, required=True,
                        help="output file: .h5, .nii.gz, .dcm (a DICOM series folder), .tif or .png")
    parser.add_argument("--format", choices=("hdf5", "nifti", "dicom", "tiff", "png"), default=None,
                        help="output format (default: from the output's suffix)")
    parser.add_argument("--window", default="soft-tissue", metavar="NAME|W,L",
                        help="CT window of PNG previews (and the display window of DICOM/NIfTI): soft-tissue, "
                             "lung, bone, brain or width,level in HU (default soft-tissue)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    data = parser.add_argument_group("input")
    data.add_argument("--part", default=None, help="LoDoPaB part of a folder (default test)")
    data.add_argument("--geometry", default=None, metavar="NAME|FILE.json",
                      help=f"geometry of NumPy sinograms: {', '.join(GEOMETRY_NAMES)} (on LoDoPaB's field of "
                           "view; parallel and fan take the size options) or a Geometry.to_json() file")
    for option, default, text in size_options():
        data.add_argument(option, type=int, default=None, help=f"{text} (parallel, fan; default {default})")
    data.add_argument("--angle-step", type=int, default=None, help="keep every N-th angle of the geometry")
    data.add_argument("--counts", action="store_true", help="the sinograms are pre-log photon counts")
    data.add_argument("--photons", type=float, default=None, metavar="N0",
                      help="photons per bin of the unattenuated beam (with --counts)")
    run = parser.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=8, help="sinograms per call (default 8)")
    run.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    run.add_argument("--cpu-backend", choices=("threads", "sparse"), default="threads",
                     help="CPU backend of the ray transforms (default threads)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")


def _geometry(args: argparse.Namespace) -> Geometry | None:
    """The geometry ``--geometry`` and the size options describe (None when not given)."""
    from recon.commands.simulate import build_geometry

    sizes = {name: getattr(args, name) for name in SMALL_PRESET}
    if args.geometry is None:
        given = [f"--{name.replace('_', '-')}" for name, value in sizes.items() if value is not None]
        if given or args.angle_step is not None:
            raise UsageError(f"{', '.join(given or ['--angle-step'])}: only with --geometry")
        return None
    if args.geometry in GEOMETRY_NAMES:
        if args.geometry in ("lodopab", "lodopab-small") and any(value is not None for value in sizes.values()):
            raise UsageError(f"--geometry {args.geometry}: a preset has fixed sizes; use parallel or fan with them")
        kind = "parallel" if args.geometry == "lodopab-small" else args.geometry
        return build_geometry(argparse.Namespace(
            geometry=kind, angle_step=1 if args.angle_step is None else args.angle_step,
            **{name: SMALL_PRESET[name] if value is None else value for name, value in sizes.items()}))
    path = Path(args.geometry)
    if not path.is_file():
        raise UsageError(f"--geometry: expected one of {', '.join(GEOMETRY_NAMES)} or a Geometry.to_json() "
                         f"file, got {args.geometry!r}")
    try:
        geometry = Geometry.from_json(path.read_text())
    except (ValueError, TypeError, KeyError) as error:
        raise UsageError(f"--geometry {path}: not a Geometry.to_json() file: {error}") from None
    return geometry if args.angle_step is None else geometry.angle_subset(args.angle_step)


def run(args: argparse.Namespace) -> int:
    from recon.reconstruction import reconstruct_to_file

    written = reconstruct_to_file(
        args.input, args.method, args.output, format=args.format, window=args.window, overwrite=args.overwrite,
        geometry=_geometry(args), part=args.part, counts=args.counts, photons=args.photons,
        batch_size=args.batch_size, device=args.device, cpu_backend=args.cpu_backend, progress=not args.quiet)
    print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0
