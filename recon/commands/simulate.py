"""Simulate low-dose paired data (LoDoPaB-CT's recipe) into one HDF5 file per split.

Ground truths are phantoms or the slices of a CT DICOM folder; OUTPUT/train.h5,
OUTPUT/validation.h5 and OUTPUT/test.h5 receive the splits (empty splits are
skipped). Every sample has its own seed, derived from --seed, the split and its
index, so the same arguments always give byte-identical files. Nothing is
written unless every split completes: an error or Ctrl-C leaves no file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from recon.data.families import PHANTOMS
from recon.data.hdf5 import PairedWriter
from recon.data.simulated import PhantomSource, Simulation, simulate_into
from recon.errors import UsageError
from recon.files import output_folder
from recon.geometry import SMALL_PRESET, Geometry
from recon.physics import LODOPAB_FINE_FACTOR, LODOPAB_PHOTONS

SPLITS = ("train", "validation", "test")


def _fraction(text: str) -> float:
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number such as 2 or 1000/362, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="folder receiving train.h5, validation.h5, test.h5 (created)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--phantom", choices=PHANTOMS, nargs="+", default=["ellipses"], metavar="FAMILY",
                        help=f"ground-truth family, or several taken in turn (one of {', '.join(PHANTOMS)}; "
                             "default: ellipses)")
    source.add_argument("--dicom", type=Path, metavar="PATH",
                        help="CT DICOM file or folder: its slices are the ground truths")
    parser.add_argument("--samples", type=int, default=None,
                        help="number of samples over all splits (default 1000; with --dicom all slices)")
    parser.add_argument("--splits", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST",
                        help="fractions of the samples per split, in order (default 0.8,0.1,0.1)")
    geometry = parser.add_argument_group("geometry")
    geometry.add_argument("--geometry", choices=("parallel", "fan", "lodopab"), default="parallel",
                          help="preset on LoDoPaB's field of view (default parallel); 'lodopab' is "
                               "362x362, 1000 angles, 513 bins and ignores the size options")
    for option, default, text in size_options():
        geometry.add_argument(option, type=int, default=default, help=f"{text} (default {default})")
    geometry.add_argument("--angle-step", type=int, default=1, help="sparse view: keep every N-th angle")
    physics = parser.add_argument_group("physics")
    physics.add_argument("--photons", type=float, default=LODOPAB_PHOTONS,
                         help=f"photons per bin, N0 (default {LODOPAB_PHOTONS}, LoDoPaB)")
    physics.add_argument("--photons-max", type=float, default=None,
                         help="a dose range: each sample's N0 drawn log-uniformly from [--photons, --photons-max]")
    physics.add_argument("--electronic-noise", type=float, default=0.0,
                         help="std of additive Gaussian noise, photons (default 0)")
    physics.add_argument("--factor", type=_fraction, default=LODOPAB_FINE_FACTOR,
                         help="fine simulation grid factor, e.g. 2 or 1000/362 (default, LoDoPaB)")
    physics.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    dicom = parser.add_argument_group("DICOM")
    dicom.add_argument("--fit", choices=("crop", "lodopab", "resample"), default=None,
                       help="centre crop in pixels, LoDoPaB's central 362/512 as the field on any grid, "
                            "or physical resampling (default crop; only with --dicom)")
    dicom.add_argument("--dequantize", action="store_true",
                       help="add uniform [0, 1) HU noise before conversion, as LoDoPaB did (only with --dicom)")
    output = parser.add_argument_group("output")
    output.add_argument("--compression", choices=("none", "gzip", "lzf"), default="none")
    output.add_argument("--batch-size", type=int, default=16, help="images projected together (default 16)")
    output.add_argument("--overwrite", action="store_true", help="replace existing split files")
    output.add_argument("--no-images", action="store_true",
                        help="write the sinograms only, as a scanner gives them (for self-supervised training)")
    output.add_argument("--quiet", action="store_true", help="no progress bar")


def size_options() -> list[tuple[str, int, str]]:
    """The commands' geometry size options: ``(option, default, help)``, the defaults :data:`~recon.geometry.SMALL_PRESET`'s."""
    texts = {"image_size": "image side, pixels", "num_angles": "angles", "num_detectors": "detector bins"}
    return [(f"--{name.replace('_', '-')}", default, texts[name]) for name, default in SMALL_PRESET.items()]


def build_geometry(args: argparse.Namespace) -> Geometry:
    """The geometry the arguments describe, angle subset included."""
    if args.geometry == "lodopab":
        geometry = Geometry.lodopab()
    else:
        preset = Geometry.parallel if args.geometry == "parallel" else Geometry.fan
        geometry = preset(image_size=args.image_size, num_angles=args.num_angles,
                          num_detectors=args.num_detectors)
    step = args.angle_step
    if isinstance(step, bool) or not isinstance(step, int) or step < 1 or geometry.num_angles % step:
        raise UsageError(f"--angle-step: expected a divisor of the {geometry.num_angles} angles, got {step!r}")
    return geometry.angle_subset(step)


def _check_dicom_options(args: argparse.Namespace) -> None:
    """Refuse the DICOM options without ``--dicom``: they would be ignored."""
    given = [option for option, used in (("--fit", args.fit is not None), ("--dequantize", args.dequantize)) if used]
    if given and args.dicom is None:
        raise UsageError(f"{', '.join(given)}: only for --dicom input, not for phantoms (would be ignored)")


def split_counts(total: int, splits: str) -> dict[str, int]:
    """Samples per split: fractions of ``total``, rounding down, the rest to train."""
    try:
        fractions = [float(Fraction(part)) for part in splits.split(",")]
    except (ValueError, ZeroDivisionError):
        fractions = []
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise UsageError(f"--splits: expected three non-negative fractions TRAIN,VAL,TEST, got {splits!r}")
    weights = np.asarray(fractions) / sum(fractions)
    counts = [int(np.floor(total * w + 1e-9)) for w in weights]
    counts[0] += total - sum(counts)
    return dict(zip(SPLITS, counts))


def _image_sources(args: argparse.Namespace, geometry: Geometry):
    """``(total, source(split_offset, stream) -> image_source, description)``."""
    if args.dicom is not None:
        from recon.data.dicom import load_dicom

        seed = args.seed if args.dequantize else None
        fit = args.fit or "crop"
        images = load_dicom(args.dicom, geometry, fit=fit, dequantize_seed=seed)
        total = len(images) if args.samples is None else args.samples
        if not 0 < total <= len(images):
            raise UsageError(f"--samples: {args.dicom} holds {len(images)} slices, asked for {total}")
        description = {"source": "dicom", "dicom": str(args.dicom), "fit": fit, "dequantize": args.dequantize}
        return total, lambda offset, stream: (lambda i: images[offset + i]), description
    total = 1000 if args.samples is None else args.samples
    if total <= 0:
        raise UsageError(f"--samples: expected a positive count, got {total}")
    families = args.phantom[0] if len(args.phantom) == 1 else tuple(args.phantom)

    def source(offset, stream):
        return PhantomSource(families, geometry, args.seed, stream)

    return total, source, {"source": "phantom", "phantom": families}


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.batch_size < 1:
        raise UsageError(f"--batch-size: expected >= 1, got {args.batch_size}")
    _check_dicom_options(args)
    geometry = build_geometry(args)
    try:
        simulation = Simulation(photons=args.photons, photons_max=args.photons_max, factor=args.factor,
                                electronic_noise=args.electronic_noise, seed=args.seed)
    except ValueError as error:  # "photons_max: expected ..." names the parameter: say the option
        name, _, problem = str(error).partition(": ")
        raise UsageError(f"--{name.replace('_', '-')}: {problem}") from None
    total, make_source, description = _image_sources(args, geometry)
    counts = split_counts(total, args.splits)
    paths = {split: args.output / f"{split}.h5" for split, n in counts.items() if n}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    compression = None if args.compression == "none" else args.compression
    with output_folder(args.output), contextlib.ExitStack() as stack, \
            tqdm(total=total, unit="sample", disable=args.quiet, file=sys.stderr) as bar:
        offset = 0
        for stream, split in enumerate(SPLITS):
            if not counts[split]:
                continue
            image_source = make_source(offset, stream)
            several = len(getattr(image_source, "families", ())) > 1
            groups = [image_source.family_of(i) for i in range(counts[split])] if several else None
            # all files are renamed together when the stack closes, after the last split
            writer = stack.enter_context(PairedWriter(
                paths[split], num_samples=counts[split], geometry=geometry,
                physics={**simulation.to_dict(), **description, "split": split, "stream": stream},
                compression=compression, overwrite=args.overwrite,
                groups=groups, with_images=not args.no_images,
            ))
            bar.set_description(split)
            simulate_into(writer, image_source, simulation=simulation, stream=stream,
                          batch_size=args.batch_size, progress=bar.update)
            offset += counts[split]
    if not args.quiet:
        for split, path in paths.items():
            print(f"{path}: {counts[split]} samples", file=sys.stderr)
    return 0
