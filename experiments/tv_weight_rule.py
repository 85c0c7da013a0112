"""Fit TV's default weight rule on validation images: ``weight = base * (4096 / N0) ** exponent``.

For each data term (``ls``, ``wls``) and dose, TV runs every weight of the
standard grid (:data:`recon.benchmark.protocol.TV_GRID`, its iterations) on
the first images of each validation family (:data:`VALIDATION_IMAGES`:
pelvis and polygons, never a training or test family); the best weight of a
dose is the vertex of a parabola through the mean PSNR at the grid's best
weight and its two neighbours (in ``log2`` weight). A least-squares line
through ``log`` best weight against ``log(4096 / N0)`` gives each term's
rule, and the term with the higher mean best PSNR is the default. Then the
rule itself is run, with ``N0`` estimated from each sinogram
(:func:`recon.physics.estimate_photons`), and scored against the grid's best
per family and dose.

Also recorded: each run's data consistency (the noise-normalised RMS
residual), to show how little it changes with the weight.

Writes ``results/tv_weight_rule/{runs.jsonl, rule.json, summary.md}``;
``runs.jsonl`` doubles as a resume file (finished runs are not repeated).
``recon.algorithms.tv.WEIGHT_RULES`` and ``DEFAULT_DATA_TERM`` hold the
fitted values (a test checks that they match ``rule.json``). Usage::

    python experiments/tv_weight_rule.py                 # 4 images per family, 1024/4096/16384 photons
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from recon import RayTransform
from recon.algorithms import tv
from recon.benchmark.files import write_json, write_text
from recon.benchmark.protocol import PRESET, TV_GRID, VALIDATION_IMAGES, ImageSet
from recon.benchmark.scoring import data_consistency
from recon.metrics import psnr
from recon.physics import MU_MAX, estimate_photons

RESULTS = Path(__file__).resolve().parent / "results" / "tv_weight_rule"
REFERENCE_PHOTONS = 4096


def run_tv(operator: RayTransform, y: torch.Tensor, truth: torch.Tensor, photons: float, **options) -> dict:
    """Per-image PSNR (dB) and data consistency of one TV run on a batch."""
    x = tv(y, operator, iterations=TV_GRID.iterations, **options)
    return {"psnr": psnr(x, truth).flatten().tolist(),
            "dc": data_consistency(x, y, operator, photons=photons, mu_max=MU_MAX).tolist()}


def best_log_weight(weights: list[float], scores: list[float]) -> float:
    """``log`` of the parabola vertex through the best grid weight and its neighbours (log2 spacing)."""
    k = int(np.argmax(scores))
    if k in (0, len(scores) - 1):
        return math.log(weights[k])
    s0, s1, s2 = scores[k - 1:k + 2]
    curvature = s0 - 2 * s1 + s2
    offset = 0.0 if curvature >= 0 else 0.5 * (s0 - s2) / curvature
    return math.log(weights[k]) + offset * math.log(2)


def fit_rule(doses: list[float], log_weights: list[float]) -> dict[str, float]:
    """Least-squares ``log w = log base + exponent * log(4096 / N0)``."""
    u = np.log(REFERENCE_PHOTONS / np.asarray(doses))
    exponent, intercept = np.polyfit(u, np.asarray(log_weights), 1)
    return {"weight_at_4096": float(f"{math.exp(intercept):.3g}"), "exponent": float(f"{exponent:.3g}")}


def family_means(values: list[float], families: tuple[str, ...]) -> dict[str, float]:
    """Mean of per-image values per family and over all (``"all"``)."""
    means = {name: float(np.mean([v for v, f in zip(values, families) if f == name])) for name in dict.fromkeys(families)}
    return {"all": float(np.mean(values)), **means}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=4, help="validation images per family (default 4)")
    parser.add_argument("--photons", type=float, nargs="+", default=[1024, 4096, 16384])
    args = parser.parse_args(argv)
    images = ImageSet(blocks=tuple((name, args.per_family) for name in VALIDATION_IMAGES.families),
                      seed=VALIDATION_IMAGES.seed, stream=VALIDATION_IMAGES.stream)
    operator = RayTransform(PRESET, cpu_backend="sparse")
    truth_np, families = images.images(PRESET)
    truth = torch.from_numpy(truth_np)[:, None]
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs_path = RESULTS / "runs.jsonl"
    runs = [json.loads(line) for line in runs_path.read_text().splitlines()] if runs_path.is_file() else []
    done = {(r["photons"], r["data_term"], r["weight"]) for r in runs}
    sinograms = {N0: torch.from_numpy(images.sinograms(truth_np, operator, N0))[:, None] for N0 in args.photons}
    for N0 in args.photons:
        for term, weights in TV_GRID.candidates():
            for weight in weights:
                if (N0, term, weight) in done:
                    continue
                run = {"photons": N0, "data_term": term, "weight": weight,
                       **run_tv(operator, sinograms[N0], truth, N0, data_term=term, weight=weight)}
                runs.append(run)
                with open(runs_path, "a") as file:
                    file.write(json.dumps(run) + "\n")
                print(f"{N0:g} {term} {weight:g}: {np.mean(run['psnr']):.2f} dB, DC {np.mean(run['dc']):.3f}",
                      flush=True)
    rules, best_scores = {}, {}
    for term, weights in TV_GRID.candidates():
        log_best = []
        for N0 in args.photons:
            scores = [np.mean(next(r["psnr"] for r in runs if (r["photons"], r["data_term"], r["weight"]) == (N0, term, w)))
                      for w in weights]
            log_best.append(best_log_weight(list(weights), scores))
            best_scores.setdefault(term, []).append(max(scores))
        rules[term] = {**fit_rule(args.photons, log_best),
                       "best_weights": [float(f"{math.exp(v):.3g}") for v in log_best]}
    default_term = max(best_scores, key=lambda term: np.mean(best_scores[term]))
    checks = []
    for N0 in args.photons:
        y = sinograms[N0]
        estimated = estimate_photons(y)
        rule = rules[default_term]
        weight = rule["weight_at_4096"] * (REFERENCE_PHOTONS / estimated) ** rule["exponent"]
        ruled = family_means(run_tv(operator, y, truth, N0, data_term=default_term,
                                    weight=weight.float().reshape(-1, 1, 1, 1))["psnr"], families)
        grid_best = {}
        for name in ruled:
            grid_best[name] = max(family_means(r["psnr"], families)[name] for r in runs if r["photons"] == N0)
        checks.append({"photons": N0, "estimated_photons": [float(e) for e in estimated], "rule": ruled,
                       "grid_best": grid_best})
    rule_file = {"data_term": default_term, "rules": rules, "reference_photons": REFERENCE_PHOTONS,
                 "images": images.describe(), "iterations": TV_GRID.iterations, "checks": checks}
    write_json(RESULTS / "rule.json", rule_file)
    write_text(RESULTS / "summary.md", summary(rule_file, runs))
    print((RESULTS / "summary.md").read_text())
    return 0


def summary(rule_file: dict, runs: list[dict]) -> str:
    """Markdown: the fitted rules, the rule against the grid's best, and PSNR / data consistency per weight."""
    lines = [f"# TV's default weight rule\n\nRegenerated by `python experiments/tv_weight_rule.py` on "
             f"{rule_file['images']} ({rule_file['iterations']} PDHG iterations). Default data term: "
             f"`{rule_file['data_term']}`.\n",
             "| data term | weight at 4096 photons | exponent | best weight per dose |", "|---|---|---|---|"]
    for term, rule in rule_file["rules"].items():
        lines.append(f"| {term} | {rule['weight_at_4096']:g} | {rule['exponent']:g} | "
                     f"{', '.join(f'{w:g}' for w in rule['best_weights'])} |")
    lines += ["", "The rule (N0 estimated from each sinogram) against the grid's best weight, mean PSNR (dB):", "",
              "| photons | estimated N0 (median) | group | rule | grid best | rule - best |", "|---|---|---|---|---|---|"]
    for check in rule_file["checks"]:
        for name, score in check["rule"].items():
            best = check["grid_best"][name]
            lines.append(f"| {check['photons']:g} | {np.median(check['estimated_photons']):.0f} | {name} | "
                         f"{score:.2f} | {best:.2f} | {score - best:+.2f} |")
    lines += ["", "Every grid run: mean PSNR (dB) and mean data consistency (1 = at the noise level):", "",
              "| photons | data term | weight | PSNR | data consistency |", "|---|---|---|---|---|"]
    lines += [f"| {r['photons']:g} | {r['data_term']} | {r['weight']:g} | {np.mean(r['psnr']):.2f} | "
              f"{np.mean(r['dc']):.3f} |" for r in runs]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
