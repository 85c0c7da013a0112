"""Task-based image quality of FBP, TV and the shipped models on the QA phantoms: ``results/image_quality``.

Runs :func:`recon.benchmark.image_quality.measure_image_quality` (what
``recon iq`` runs) at 4096 and 1024 photons per bin:

* ``small/``: the 128²/360/183 preset of the shipped models: FBP (Hann, 0.641),
  TV with its default data term and weight, TV with four times its default
  weight (the same data term), and every shipped model;
* ``lodopab/``: LoDoPaB-CT's size (362²/1000/513): FBP with the Hann filter
  at 0.641 and with the plain ramp (Ram-Lak). TV there takes 6-9 s per image
  on the 2 cores (sparse backend; 4 phantoms x 64 realisations per dose):
  ``--lodopab-tv`` adds it, outside the 15-minute budget of the default run.
  Measured on 2026-12-04 on the 2 cores (shared with test runs): the small
  preset 142 s and 169 s per dose, LoDoPaB-CT's size with TV 2272 s and
  1508 s.

Each folder gets recon iq's files (``iq.md``, ``iq.json``, ``iq.csv``, the NPS,
TTF and d' figures); ``README.md`` holds the tables and a reading generated
from the numbers: per learned model and dose its noise, resolution and
detectability against FBP and TV, and whether ranking the methods by mean d'
agrees with ranking them by PSNR on the ``low_dose`` (4096) and
``dose_range`` (1024) protocols' test images. Finished methods are kept in
``*/parts/`` (not committed): an interrupted run resumes. ``--preset`` reruns one preset
and reads the other's committed ``iq.json`` back for the README. Usage::

    python experiments/image_quality.py                  # about 10 minutes on 2 cores
    python experiments/image_quality.py --lodopab-tv     # + TV at LoDoPaB-CT's size (about an hour more)
    python experiments/image_quality.py --preset small   # the small preset only (a new shipped model)
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from recon.algorithms.tv import WEIGHT_RULES, default_data_term, rule_weight
from recon.benchmark import Protocol
from recon.benchmark.files import write_text
from recon.benchmark.image_quality import measure_image_quality
from recon.benchmark.protocol_run import dose_folder
from recon.commands.iq import markdown, write_results
from recon.geometry import Geometry
from recon.training.checkpoint import shipped_weights

EXPERIMENTS = Path(__file__).resolve().parent
RESULTS = EXPERIMENTS / "results"
OUTPUT = RESULTS / "image_quality"

#: The presets: folder name -> geometry.
PRESETS = {"small": Geometry.lodopab_small, "lodopab": Geometry.lodopab}
#: Doses, photons per bin.
PHOTONS = (4096.0, 1024.0)
#: Noise realisations per phantom and dose, and the CHO's channels (it needs 4 realisations per channel).
REALISATIONS = {"small": 32, "lodopab": 64}
CHANNELS = 5
#: The stronger TV: this many times the default weight of its dose.
TV_STRONGER = 4.0
#: PSNR of the methods on test images, per dose: the protocol whose summary holds it.
PSNR_PROTOCOLS = {4096.0: "low_dose", 1024.0: "dose_range"}
#: Row labels of the protocols' summaries for recon iq's labels (the shipped models keep their names).
PSNR_LABELS = {"fbp": "fbp", "tv": "TV (default)"}


def stronger_tv(photons: float, num_angles: int) -> str:
    """The spec of TV at :data:`TV_STRONGER` times its default weight at ``photons``, its default data term."""
    n0 = torch.tensor([photons])
    term = default_data_term(n0)
    weight = TV_STRONGER * float(rule_weight(n0, WEIGHT_RULES[term], num_angles)[0])
    return f"tv:data_term={term},weight={weight:.3g}"


def methods(preset: str, photons: float, geometry: Geometry, lodopab_tv: bool) -> dict[str, str]:
    """Row label -> method spec of one preset and dose."""
    if preset == "lodopab":
        specs = {"fbp": "fbp", "fbp ram-lak": "fbp:filter=ram-lak,frequency_scaling=1.0"}
        return {**specs, "tv": "tv"} if lodopab_tv else specs
    return {"fbp": "fbp", "tv": "tv", f"tv ×{TV_STRONGER:g}": stronger_tv(photons, geometry.num_angles),
            **{weights.name: weights.name for weights in shipped_weights()}}


def run_preset(preset: str, geometry: Geometry, lodopab_tv: bool, fresh: bool) -> dict[str, Any]:
    """recon iq's result for one preset, dose by dose, rows labelled by :func:`methods`; its files written."""
    folder = OUTPUT / preset
    doses, specs, settings = [], {}, None
    for photons in PHOTONS:
        labelled = methods(preset, photons, geometry, lodopab_tv)
        start = time.perf_counter()
        result = measure_image_quality(
            geometry, list(labelled.values()), [photons], realisations=REALISATIONS[preset], channels=CHANNELS,
            seed=0, batch_size=8, cpu_backend="sparse", parts=folder / "parts", resume=not fresh,
            progress=lambda line: print(f"image_quality {preset}: {line}", file=sys.stderr, flush=True))
        (dose,) = result["doses"]
        if dose["failures"]:
            raise SystemExit("; ".join(dose["failures"].values()))
        label_of = {spec: label for label, spec in labelled.items()}
        doses.append({"photons": photons, "failures": {},
                      "methods": {label_of[spec]: row for spec, row in dose["methods"].items()}})
        specs[f"{photons:g}"] = labelled
        print(f"image_quality {preset}: {photons:g} photons in {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
        settings = result["settings"]
    settings = {**settings, "methods": list(labelled), "photons": list(PHOTONS), "specs": specs}
    merged = {"settings": settings, "doses": doses}
    write_results(merged, folder)
    return merged


def _protocol(name: str) -> Protocol:
    """``PROTOCOL`` of ``experiments/protocols/<name>.py``, loaded as ``experiments/regenerate.py`` loads it."""
    spec = importlib.util.spec_from_file_location("regenerate", EXPERIMENTS / "regenerate.py")
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    return regenerate.load_protocol(regenerate.PROTOCOLS, name)


def _psnr(photons: float) -> dict[str, float]:
    """Mean PSNR over all test images of the protocol of ``photons``, per recon iq label ({} if not run)."""
    name = PSNR_PROTOCOLS[photons]
    path = dose_folder(RESULTS / name, _protocol(name), photons) / "summary.json"
    if not path.is_file():
        return {}
    labels = {summary_label: label for label, summary_label in PSNR_LABELS.items()}
    return {labels.get(row["method"], row["method"]): row["psnr"]["mean"]
            for row in json.loads(path.read_text())["summary"]
            if row["photons"] == photons and row["group"] == "all" and row["psnr"]["mean"] is not None}


def _separated(better: dict[str, Any], worse: dict[str, Any]) -> bool:
    """Whether ``better``'s d' interval lies wholly above ``worse``'s."""
    return better["d_prime_interval"][0] > worse["d_prime_interval"][1]


def _psnr_against_detectability(rows_: dict[str, Any], psnr: dict[str, float], names: list[str], protocol: str
                                ) -> str:
    """Whether d' per rod confirms, contradicts or cannot tell the order of each pair of methods by PSNR."""
    by_psnr = sorted(names, key=lambda name: -psnr[name])
    confirmed, contradicted, undetermined = [], [], 0
    for higher, lower in itertools.combinations(by_psnr, 2):  # psnr[higher] >= psnr[lower]
        for rod, mine in rows_[higher]["detectability"].items():
            theirs = rows_[lower]["detectability"][rod]
            if _separated(mine, theirs):
                confirmed.append((higher, lower, rod))
            elif _separated(theirs, mine):
                contradicted.append(f"{lower} over {higher} on the {rod} (d' {theirs['d_prime']:.2f} vs "
                                    f"{mine['d_prime']:.2f}; PSNR {psnr[lower]:.2f} vs {psnr[higher]:.2f} dB)")
            else:
                undetermined += 1
    total = len(confirmed) + len(contradicted) + undetermined
    return (f"Ranked by mean PSNR on the `{protocol}` test images: "
            + ", ".join(f"{name} ({psnr[name]:.2f} dB)" for name in by_psnr)
            + f". Of the {total} comparisons of a pair of these methods on one rod, the CHO's d' (95 % intervals "
            f"apart) confirms PSNR's order on {len(confirmed)}, contradicts it on {len(contradicted)} and cannot "
            f"tell on {undetermined} (overlapping intervals)"
            + (": d' prefers " + "; ".join(contradicted) + "." if contradicted else "."))


def _versus(name: str, row: dict[str, Any], rival: str, other: dict[str, Any]) -> str:
    """One sentence: noise, TTF50 at both contrasts and d' per rod of ``name`` against ``rival``."""
    def change(a: float, b: float) -> str:
        return "n/a" if not (math.isfinite(a) and math.isfinite(b)) else f"{a:.2f} vs {b:.2f}"

    rods = []
    for rod, mine in row["detectability"].items():
        theirs = other["detectability"][rod]
        low, high = mine["d_prime_interval"]
        verdict = ("higher" if low > theirs["d_prime_interval"][1] else
                   "lower" if high < theirs["d_prime_interval"][0] else "overlapping intervals")
        rods.append(f"{rod} {mine['d_prime']:.2f} vs {theirs['d_prime']:.2f} ({verdict})")
    return (f"{name} against {rival}: noise {row['noise_hu']:.1f} vs {other['noise_hu']:.1f} HU "
            f"({row['noise_hu'] / other['noise_hu']:.2f}×), NPS peak {change(row['nps_peak_lp_cm'], other['nps_peak_lp_cm'])} "
            f"lp/cm, TTF50 at {row['ttf']['high']['contrast_hu']:+g} HU "
            f"{change(row['ttf']['high']['f50'], other['ttf']['high']['f50'])} lp/cm and at "
            f"{row['ttf']['low']['contrast_hu']:+g} HU {change(row['ttf']['low']['f50'], other['ttf']['low']['f50'])} "
            f"lp/cm; CHO d' {', '.join(rods)}.")


def reading(result: dict[str, Any], *, with_psnr: bool) -> list[str]:
    """The generated reading of one preset: every method but FBP and TV against them, and d' against PSNR."""
    lines = []
    for dose in result["doses"]:
        rows_ = dose["methods"]
        lines += [f"**{dose['photons']:g} photons.**", ""]
        rivals = [(label, name) for label, name in (("FBP", "fbp"), ("TV", "tv")) if name in rows_]
        for name in (n for n in rows_ if n not in ("fbp", "tv") and not n.startswith("tv ")):
            lines += [("- " if index == 0 else "  ") + _versus(name, rows_[name], label, rows_[rival])
                      for index, (label, rival) in enumerate(rivals)]
        if not with_psnr:
            lines.append("")
            continue
        psnr = _psnr(dose["photons"])
        common = [name for name in rows_ if name in psnr]
        if len(common) < 2:
            lines += ["", f"PSNR on test images at {dose['photons']:g} photons: not available "
                      f"(run `python experiments/regenerate.py {PSNR_PROTOCOLS[dose['photons']]}`).", ""]
            continue
        lines += ["", _psnr_against_detectability(rows_, psnr, common, PSNR_PROTOCOLS[dose["photons"]]), ""]
    return lines


def readme(results: dict[str, dict[str, Any]], seconds: float, command: str) -> str:
    """``results/image_quality/README.md``: settings, the tables of each preset and the reading.

    ``command`` is the command line of this run; ``seconds`` how long it took (methods it reused from an
    earlier run's parts, and presets it read back, cost it nothing). Each preset names its own command.
    """
    small = results["small"]["settings"]
    tv_specs = ", ".join(f"{photons} photons `{specs[f'tv ×{TV_STRONGER:g}']}`"
                         for photons, specs in small["specs"].items())
    parts = ["# Image quality on the QA phantoms", "",
             f"Written by `{command}` (this run: {seconds / 60:.1f} minutes on {torch.get_num_threads()} "
             "threads; methods finished by an earlier run are reused from `*/parts/`, presets it did not run are "
             "read back from their `iq.json`; each preset below names the command that regenerates it). "
             "Phantoms of `recon.data.qa` (20 cm water cylinder; CT-number module; +340 and +40 HU discs of "
             "15 mm; MITA-LCD rods of 3, 5, 7, 10 mm at 14, 7, 5, 3 HU) simulated by LoDoPaB-CT's recipe, seed 0; "
             "noise and NPS on the water cylinder, TTF "
             "of the discs from the mean of the realisations, CHO d' (5 Laguerre-Gauss channels, half the "
             "realisations train it, half test it) with 95 % bootstrap intervals. The shipped models were never "
             "trained, validated or tuned on these phantoms; nothing here was chosen on them.", "",
             f"TV ×{TV_STRONGER:g}: four times TV's default weight at each dose, with its default data term ({tv_specs}).",
             ""]
    for preset, result in results.items():
        table = markdown(result).split("\n", 2)[2]  # without its title: the preset's heading replaces it
        settings = result["settings"]
        parts += [f"## {settings['geometry']}, {settings['realisations']} realisations per phantom and dose", "",
                  f"Regenerated by `{preset_command(preset, settings)}`.", "", table.replace("## ", "### "),
                  f"![NPS]({preset}/nps.png)", "", f"![TTF]({preset}/ttf.png)", "",
                  f"![d']({preset}/detectability.png)", "",
                  f"Every number and curve: `{preset}/iq.json`, `{preset}/iq.csv`.", ""]
    parts += ["## Reading (generated from the numbers above)", ""]
    for preset, result in results.items():
        parts += [f"### {result['settings']['geometry']}", "", *reading(result, with_psnr=preset == "small")]
    return "\n".join(parts)


def preset_command(preset: str, settings: dict[str, Any]) -> str:
    """The command that regenerates one preset's results, read from the methods its ``settings`` list."""
    return (f"python experiments/image_quality.py --preset {preset}"
            + (" --lodopab-tv" if preset == "lodopab" and "tv" in settings["methods"] else ""))


def committed(preset: str) -> dict[str, Any]:
    """The results of a preset this run does not recompute, read back from its ``iq.json``."""
    path = OUTPUT / preset / "iq.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no results of the {preset!r} preset to read back; run it too (--preset {preset})")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", action="append", choices=list(PRESETS),
                        help="run only this preset (repeatable; default: all); the others are read back")
    parser.add_argument("--lodopab-tv", action="store_true", help="also TV at LoDoPaB-CT's size (about an hour)")
    parser.add_argument("--fresh", action="store_true", help="recompute every method, ignoring finished ones")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    chosen = args.preset or list(PRESETS)
    read_back = {preset: committed(preset) for preset in PRESETS if preset not in chosen}  # checked before any run
    results = {preset: read_back[preset] if preset in read_back else
               run_preset(preset, geometry(), args.lodopab_tv, args.fresh) for preset, geometry in PRESETS.items()}
    command = " ".join(["python experiments/image_quality.py", *(argv if argv is not None else sys.argv[1:])])
    write_text(OUTPUT / "README.md", readme(results, time.perf_counter() - start, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
