"""Regenerate every results table and figure in experiments/results/ from the protocols.

For each protocol ``experiments/protocols/<name>.yaml``:

1. ``tune_tv``: the TV weight is picked by mean PSNR on validation images of the
   training family (``mixed``, seed 1, the validation stream: never the test
   images), simulated with the protocol's dose and angles; the search table goes
   to ``results/<name>/tv_weight.json``;
2. ``benchmark``: ``recon benchmark`` runs with these options (``{tv_weight}`` in a
   method spec becomes the tuned weight) into ``results/<name>/``;
3. ``targets``: margins of learned over classical methods are checked and
   written to ``results/<name>/targets.md``.

``results/README.md`` then collects every table. Usage::

    python experiments/regenerate.py                 # every protocol (about 15 minutes on 2 cores)
    python experiments/regenerate.py low_dose        # one protocol
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

from recon.algorithms import Reconstructor, select_parameter
from recon.cli import main as recon_main
from recon.data.simulated import PhantomSource, Simulation, simulate_images
from recon.files import atomic_path
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.training.checkpoint import WEIGHTS_DIR, load_model, shipped_models
from recon.training.config import read_yaml_text

EXPERIMENTS = Path(__file__).resolve().parent
PROTOCOLS = EXPERIMENTS / "protocols"
RESULTS = EXPERIMENTS / "results"
#: The preset of every protocol (the shipped models' geometry).
PRESET = {"image_size": 128, "num_angles": 360, "num_detectors": 183}
#: Validation images of the training data: family, root seed and stream as in
#: ``recon simulate --phantom mixed --seed 1`` (stream 1 = validation split).
VALIDATION = {"family": "mixed", "seed": 1, "stream": 1}


def write_text(path: Path, text: str) -> None:
    with atomic_path(path, overwrite=True) as part:
        part.write_text(text)


def demote_headings(markdown: str) -> str:
    """Markdown with every heading one level deeper (a report nested under a protocol's heading)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.split("\n"))


def protocol_geometry(options: dict) -> Geometry:
    return Geometry.parallel(**PRESET).angle_subset(int(options.get("angle_step", 1)))


def tune_tv_weight(options: dict, tuning: dict) -> dict:
    """Grid search of TV's weight on validation images simulated like the protocol's data."""
    geometry = protocol_geometry(options)
    source = PhantomSource(VALIDATION["family"], geometry, VALIDATION["seed"], VALIDATION["stream"])
    indices = range(int(tuning["samples"]))
    images = np.stack([source(i) for i in indices])
    A = RayTransform(geometry, cpu_backend="sparse")
    simulation = Simulation(photons=float(options["photons"][0]), seed=VALIDATION["seed"])
    y = torch.from_numpy(simulate_images(images, A, simulation, indices, stream=VALIDATION["stream"]))[:, None]
    search = select_parameter(Reconstructor("tv", A), y, torch.from_numpy(images)[:, None],
                              parameter="weight", values=[float(w) for w in tuning["weights"]])
    edge = search.best in (min(tuning["weights"]), max(tuning["weights"]))
    return {"weight": search.best, "validation_psnr": search.best_score, "at_edge_of_grid": edge,
            "table": [{"weight": w, "psnr": s} for w, s in search.table], "validation": VALIDATION,
            "samples": int(tuning["samples"])}


def benchmark_arguments(options: dict, output: Path, tv_weight: float | None) -> list[str]:
    """``recon benchmark`` arguments of a protocol's ``benchmark`` section."""
    arguments = ["benchmark", "--output", str(output), "--cpu-backend", "sparse", "--quiet", "--fresh"]
    for key, value in options.items():
        values = value if isinstance(value, list) else [value]
        if key == "methods":
            values = [str(spec).replace("{tv_weight}", f"{tv_weight:g}") for spec in values]
        arguments += [f"--{key.replace('_', '-')}", *map(str, values)]
    return arguments


def check_targets(targets: list[dict], summary: dict) -> str:
    """Markdown table of each target: both methods' mean PSNR/SSIM, the margin and the verdict."""
    means = {entry["method"]: entry for entry in summary["summary"] if entry["group"] == "all"}
    rows, methods = [], summary["methods"]

    def find(name: str) -> dict:
        matches = [m for m in methods if m == name or m.split(":")[0] == name]
        return means[matches[0]]

    for target in targets:
        learned, classical = find(target["method"]), find(target["better_than"])
        gain = learned["psnr"]["mean"] - classical["psnr"]["mean"]
        ssim_ok = learned["ssim"]["mean"] > classical["ssim"]["mean"]
        met = gain >= target["psnr_margin"] and (ssim_ok or not target.get("ssim_higher", False))
        rows.append(f"| {learned['method']} | {classical['method']} | {learned['psnr']['mean']:.2f} | "
                    f"{classical['psnr']['mean']:.2f} | {gain:+.2f} (target ≥ {target['psnr_margin']:+.1f}) | "
                    f"{learned['ssim']['mean']:.4f} vs {classical['ssim']['mean']:.4f}"
                    f"{' (must be higher)' if target.get('ssim_higher') else ''} | {'met' if met else 'NOT met'} |")
    header = ("| learned | classical | PSNR learned | PSNR classical | gain, dB | SSIM | verdict |\n"
              "|---|---|---|---|---|---|---|")
    return header + "\n" + "\n".join(rows) + "\n"


def run_protocol(name: str) -> str:
    protocol = read_yaml_text((PROTOCOLS / f"{name}.yaml").read_text())
    output = RESULTS / name
    output.mkdir(parents=True, exist_ok=True)
    options = protocol["benchmark"]
    tv_weight = None
    if "tune_tv" in protocol:
        tuning = tune_tv_weight(options, protocol["tune_tv"])
        write_text(output / "tv_weight.json", json.dumps(tuning, indent=2) + "\n")
        tv_weight = tuning["weight"]
        print(f"{name}: TV weight {tv_weight:g} (validation PSNR {tuning['validation_psnr']:.2f} dB)", file=sys.stderr)
    status = recon_main(benchmark_arguments(options, output, tv_weight))
    if status:
        raise SystemExit(f"{name}: recon benchmark failed with status {status}")
    section = f"## {protocol['description']}\n\nProtocol: `experiments/protocols/{name}.yaml`"
    if tv_weight is not None:
        section += f"; TV weight {tv_weight:g}, tuned on validation data (`{name}/tv_weight.json`)"
    section += f".\n\n![examples]({name}/examples.png)\n\n"
    section += demote_headings((output / "summary.md").read_text().split("\n", 2)[2])
    if "targets" in protocol:
        targets = check_targets(protocol["targets"], json.loads((output / "summary.json").read_text()))
        write_text(output / "targets.md", targets)
        section += "\n### Quality targets\n\n" + targets
    return section


def validation_fbp_scores() -> str:
    """FBP's mean PSNR / SSIM on the shipped models' validation file, or a note if it is not simulated."""
    from recon.algorithms import fbp
    from recon.data.datasets import PairedDataset
    from recon.metrics import psnr, ssim

    path = EXPERIMENTS.parent / "outputs" / "data" / "mixed_small" / "validation.h5"
    if not path.is_file():
        return "n/a (run experiments/train_shipped.sh to simulate the validation file)"
    data = PairedDataset(path)
    y, x = (torch.stack(parts) for parts in zip(*(data[i] for i in range(len(data)))))
    reconstruction = fbp(y, RayTransform(data.geometry))
    return f"{psnr(reconstruction, x).mean():.2f} / {ssim(reconstruction, x).mean():.4f}"


def shipped_section() -> str:
    """How each shipped model was trained: size, wall-clock time, best validation scores (from its logs)."""
    rows = []
    for name in shipped_models():
        logs = WEIGHTS_DIR / "logs" / name
        with open(logs / "epochs.csv", newline="") as file:
            epochs = list(csv.DictReader(file))
        best = max(epochs, key=lambda row: float(row["validation_psnr"]))
        seconds = sum(int(line.split()[1]) for line in (logs / "wall_clock.txt").read_text().splitlines())
        parameters = sum(p.numel() for p in load_model(name).parameters())
        size = (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size / 2**20
        rows.append(f"| {name} | {parameters:,} | {size:.2f} | {epochs[-1]['step']} | {seconds / 60:.1f} | "
                    f"{float(best['validation_psnr']):.2f} / {float(best['validation_ssim']):.4f} |")
    return ("## Shipped models\n\nTrained by `bash experiments/train_shipped.sh` on 2 CPU cores (logs and configs "
            "in `recon/weights/logs/`); validation: the 64 validation images of the `mixed` training family.\n\n"
            "| model | parameters | MiB | steps | training, min | best validation PSNR / SSIM |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"FBP (Hann, 0.641) on the same validation images: {validation_fbp_scores()}.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("protocols", nargs="*", help="protocol names (default: all in experiments/protocols)")
    args = parser.parse_args(argv)
    available = sorted(path.stem for path in PROTOCOLS.glob("*.yaml"))
    unknown = sorted(set(args.protocols) - set(available))
    if unknown:
        parser.error(f"unknown protocols {unknown}; expected some of {available}")
    for name in args.protocols or available:
        write_text(RESULTS / name / "section.md", run_protocol(name))
    sections = [shipped_section()] + [(RESULTS / name / "section.md").read_text() for name in available
                                      if (RESULTS / name / "section.md").is_file()]
    write_text(RESULTS / "README.md", "# Results\n\nRegenerated by `python experiments/regenerate.py` "
               "(every table, figure and tuned weight below).\n\n" + "\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
