"""Task-based image quality of reconstruction methods on QA phantoms: noise, NPS, TTF, CT numbers, CHO d'.

Simulates seeded low-dose noise realisations of the QA phantoms (a 20 cm water
cylinder, a CT-number module, a resolution module with +340 and +40 HU discs
and a low-contrast module with MITA-LCD rods of 3 to 10 mm) at each
--photons, reconstructs them with every method and measures per method and
dose: noise (HU) and NPS peak frequency, TTF50/TTF10 at high and low contrast
(lp/cm), CT-number errors, uniformity and the channelised Hotelling observer's
d' per rod. Methods are any spec ``recon benchmark`` accepts (fbp, tv:weight=...,
lpd-small, a checkpoint file, module:function). --output receives iq.md (a
table per dose), iq.json (every number and curve), iq.csv and the figures
nps.png, ttf.png and detectability.png, each written whole or not at all. As
``recon benchmark``, it resumes: every finished method and dose is kept in
``DIR/parts`` at once, and a second run with the same settings reads it back
instead of recomputing it (``--fresh`` recomputes everything).

Example: ``recon iq --methods fbp tv --photons 4096 1024 --realisations 32 --output iq``
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

from recon.commands.simulate import size_options
from recon.errors import UsageError

#: Axes per row of a figure (a figure with an axis per method wraps onto more rows).
FIGURE_COLUMNS = 4
#: Files the command writes into its output folder (besides ``parts/``, its finished methods and doses).
FILES = ("iq.md", "iq.json", "iq.csv", "nps.png", "ttf.png", "detectability.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon.benchmark.image_quality import DEFAULT_CHANNELS, DEFAULT_REALISATIONS
    from recon.commands.reconstruct import GEOMETRY_NAMES

    parser.add_argument("--methods", nargs="+", required=True, metavar="SPEC",
                        help="reconstructors: fbp, tv:iterations=100, sirt:iterations=100, lpd-small, a "
                             "checkpoint file, module:function or file.py:function")
    parser.add_argument("--photons", type=float, nargs="+", default=[4096.0], metavar="N0",
                        help="photons per bin of the unattenuated beam, one or more doses (default 4096)")
    parser.add_argument("--output", type=Path, required=True,
                        help=f"folder receiving {', '.join(FILES)} and parts/ (finished methods, for resuming)")
    geometry = parser.add_argument_group("geometry")
    geometry.add_argument("--geometry", default="lodopab-small", metavar="NAME|FILE.json",
                          help=f"{', '.join(GEOMETRY_NAMES)} (on LoDoPaB's field of view; parallel and fan take "
                               "the size options) or a Geometry.to_json() file (default lodopab-small)")
    for option, default, text in size_options():
        geometry.add_argument(option, type=int, default=None, help=f"{text} (parallel, fan; default {default})")
    geometry.add_argument("--angle-step", type=int, default=None, help="keep every N-th angle of the geometry")
    measure = parser.add_argument_group("measurement")
    measure.add_argument("--realisations", type=int, default=DEFAULT_REALISATIONS,
                         help=f"noise realisations per phantom and dose (default {DEFAULT_REALISATIONS}; the CHO "
                              "needs 4 per channel)")
    measure.add_argument("--channels", type=int, default=DEFAULT_CHANNELS,
                         help=f"Laguerre-Gauss channels of the CHO (default {DEFAULT_CHANNELS})")
    measure.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamplings of the d' and TTF50 intervals (default 200)")
    measure.add_argument("--seed", type=int, default=0, help="seed of the noise and the bootstrap (default 0)")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--batch-size", type=int, default=8, help="sinograms per call (default 8)")
    run_group.add_argument("--cpu-backend", choices=("threads", "sparse"), default="threads",
                           help="CPU backend of the ray transforms (default threads)")
    run_group.add_argument("--fresh", action="store_true", help="recompute every method, ignoring finished ones")
    run_group.add_argument("--quiet", action="store_true", help="no progress lines")


def _number(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    """One Markdown table per dose: a row per method, failures listed below it."""
    settings = result["settings"]
    lines = [f"# Image quality: {settings['geometry']}, {settings['realisations']} realisations, "
             f"seed {settings['seed']}", ""]
    for dose in result["doses"]:
        rods = next(iter(dose["methods"].values()))["detectability"] if dose["methods"] else {}
        header = ["Method", "Noise (HU)", "NPS peak (lp/cm)", "TTF50 high (lp/cm)", "TTF50 low (lp/cm)",
                  "max \\|CT error\\| (HU)", "Uniformity (HU)", *(f"d' {name}" for name in rods)]
        lines += [f"## {dose['photons']:g} photons", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        for method, row in dose["methods"].items():
            cells = [method, _number(row["noise_hu"], 1), _number(row["nps_peak_lp_cm"]),
                     *(f"{_number(row['ttf'][task]['f50'])} [{_number(row['ttf'][task]['f50_interval'][0])}, "
                       f"{_number(row['ttf'][task]['f50_interval'][1])}]" for task in ("high", "low")),
                     _number(row["max_abs_ct_error_hu"], 1), _number(row["uniformity_hu"], 1),
                     *(f"{_number(rod['d_prime'])} [{_number(rod['d_prime_interval'][0])}, "
                       f"{_number(rod['d_prime_interval'][1])}]" for rod in row["detectability"].values())]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [f"\nFailed: {message}" for message in dose["failures"].values()]
        lines.append("")
    return "\n".join(lines)


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The CSV's rows: one per dose and method, every scalar."""
    out = []
    for dose in result["doses"]:
        for method, row in dose["methods"].items():
            line = {"photons": dose["photons"], "method": method, "noise_hu": row["noise_hu"],
                    "nps_peak_lp_cm": row["nps_peak_lp_cm"], "nps_mean_lp_cm": row["nps_mean_lp_cm"]}
            for task, ttf in row["ttf"].items():
                line[f"ttf50_{task}_lp_cm"], line[f"ttf10_{task}_lp_cm"] = ttf["f50"], ttf["f10"]
                line[f"ttf50_{task}_low"], line[f"ttf50_{task}_high"] = ttf["f50_interval"]
            line["max_abs_ct_error_hu"], line["uniformity_hu"] = row["max_abs_ct_error_hu"], row["uniformity_hu"]
            for name, insert in row["ct_numbers"].items():
                line[f"ct_error_{name}_hu"] = insert["error_hu"]
            for name, rod in row["detectability"].items():
                key = name.replace(" ", "_")
                line[f"d_prime_{key}"] = rod["d_prime"]
                line[f"d_prime_{key}_low"], line[f"d_prime_{key}_high"] = rod["d_prime_interval"]
                line[f"auc_{key}"] = rod["auc"]
            out.append(line)
    return out


def _csv(table: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if table:
        writer = csv.DictWriter(buffer, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: repr(value) if isinstance(value, float) else value for key, value in line.items()}
                         for line in table)
    return buffer.getvalue()


def _nps_axes(ax, result: dict[str, Any], index: int) -> None:
    """Radial NPS of every method at dose ``index``."""
    dose = result["doses"][index]
    for method, row in dose["methods"].items():
        ax.plot(row["nps"]["frequency"], row["nps"]["radial"], label=method)
    ax.set(title=f"{dose['photons']:g} photons", xlabel="lp/cm", ylabel="NPS (HU² mm²)")


def _ttf_axes(ax, result: dict[str, Any], index: int) -> None:
    """TTFs of method ``index`` at every dose, high contrast solid, low contrast dashed."""
    method = result["settings"]["methods"][index]
    for dose in result["doses"]:
        row = dose["methods"].get(method)
        if row is None:
            continue
        for task, style in (("high", "-"), ("low", "--")):
            ttf = row["ttf"][task]
            ax.plot(ttf["frequency"], ttf["ttf"], style,
                    label=f"{dose['photons']:g} photons, {ttf['contrast_hu']:+g} HU")
    ax.set(title=method, xlabel="lp/cm", ylabel="TTF", ylim=(-0.05, 1.1))


def _detectability_axes(ax, result: dict[str, Any], index: int) -> None:
    """CHO d' against rod diameter, with its interval, for every method at dose ``index``."""
    dose = result["doses"][index]
    for method, row in dose["methods"].items():
        rods = list(row["detectability"].values())
        d = [rod["d_prime"] for rod in rods]
        error = [[v - rod["d_prime_interval"][0] for v, rod in zip(d, rods)],
                 [rod["d_prime_interval"][1] - v for v, rod in zip(d, rods)]]
        ax.errorbar([rod["diameter_mm"] for rod in rods], d, yerr=error, marker="o", capsize=3, label=method)
    ax.set(title=f"{dose['photons']:g} photons", xlabel="rod diameter (mm)", ylabel="CHO d'")


def figures(result: dict[str, Any], folder: Path) -> None:
    """nps.png (an axis per dose), ttf.png (an axis per method) and detectability.png (an axis per dose)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recon.plotting import save_figure

    doses, methods = len(result["doses"]), len(result["settings"]["methods"])
    for name, count, draw in (("nps.png", doses, _nps_axes), ("ttf.png", methods, _ttf_axes),
                              ("detectability.png", doses, _detectability_axes)):
        columns = min(count, FIGURE_COLUMNS)
        rows_ = math.ceil(count / columns)
        figure, axes = plt.subplots(rows_, columns, figsize=(4.2 * columns, 3.4 * rows_), squeeze=False)
        try:
            for index, ax in enumerate(axes.flat):
                if index >= count:
                    ax.set_axis_off()
                    continue
                draw(ax, result, index)
                if ax.lines or ax.containers:
                    ax.legend(fontsize="small")
            figure.tight_layout()
            save_figure(figure, folder / name)
        finally:
            plt.close(figure)


def write_results(result: dict[str, Any], folder: Path) -> str:
    """Write :data:`FILES` of ``result`` into ``folder`` (each atomically); returns the Markdown table."""
    from recon.benchmark.files import write_json, write_text

    table = markdown(result)
    write_text(folder / "iq.md", table)
    write_json(folder / "iq.json", result)
    write_text(folder / "iq.csv", _csv(rows(result)))
    figures(result, folder)
    return table


def _arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments that choose the numbers, as JSON values (not the output folder: same seed, same JSON)."""
    return {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()
            if not name.startswith("_") and not callable(value)
            and name not in ("output", "fresh", "quiet", "debug", "command")}


def run(args: argparse.Namespace) -> int:
    from recon.benchmark.image_quality import measure_image_quality
    from recon.commands.reconstruct import _geometry
    from recon.files import output_folder
    from recon.quality.cho import REALISATIONS_PER_CHANNEL
    from recon.version import __version__

    bad = [p for p in args.photons if not (p > 0 and math.isfinite(p))]
    if bad:
        raise UsageError(f"--photons: expected positive photon counts, got {' '.join(f'{p:g}' for p in bad)}")
    for option, value in (("--realisations", args.realisations), ("--channels", args.channels),
                          ("--bootstrap", args.bootstrap), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UsageError(f"{option}: expected a positive number, got {value}")
    needed = REALISATIONS_PER_CHANNEL * args.channels
    if args.realisations < needed:
        raise UsageError(f"--realisations: the CHO with {args.channels} channels needs at least "
                         f"{needed} realisations (half train its template, half test it), got "
                         f"{args.realisations}; raise --realisations or lower --channels")
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"--output {args.output}: expected a folder, got a file")
    geometry = _geometry(args)
    progress = None if args.quiet else (lambda line: print(f"recon iq: {line}", file=sys.stderr, flush=True))
    with output_folder(args.output) as folder:
        result = measure_image_quality(geometry, args.methods, args.photons, realisations=args.realisations,
                                       seed=args.seed, channels=args.channels, bootstrap=args.bootstrap,
                                       batch_size=args.batch_size, cpu_backend=args.cpu_backend, progress=progress,
                                       parts=folder / "parts", resume=not args.fresh)
        table = write_results({"arguments": _arguments(args), "recon_version": __version__, **result}, folder)
    print(table)
    failures = {}  # method -> its first failure: one line per method, whatever the doses
    for dose in result["doses"]:
        for method, message in dose["failures"].items():
            failures.setdefault(method, message)
    for message in failures.values():
        print(f"recon iq: error: {message}", file=sys.stderr)
    print(f"wrote {', '.join(str(args.output / name) for name in FILES)}", file=sys.stderr)
    return 2 if failures else 0
