"""Regenerate every results table and figure in experiments/results/ from the protocols.

Each ``experiments/protocols/<name>.py`` defines ``PROTOCOL``, a
:class:`recon.benchmark.Protocol`; :func:`recon.benchmark.run_protocol` runs
it into ``results/<name>/``: it refuses models trained or validated on a test
family, tunes TV on the validation images (and finds the TV oracle on the
test images), benchmarks, compares every learned method with every classical
one with bootstrap confidence intervals and checks the targets.

``results/README.md`` then collects the shipped models' training logs, the
"Generalisation" section (every learned model against the TV oracle, per
family, per protocol and dose) and every protocol's section. Usage::

    python experiments/regenerate.py                 # every protocol
    python experiments/regenerate.py low_dose        # one protocol (the README is rebuilt from all results)
    python experiments/regenerate.py --readme-only   # no protocol: only the README, from the results on disk
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import torch

from recon.benchmark import Protocol, run_protocol
from recon.benchmark.files import write_text
from recon.benchmark.protocol_report import generalisation_markdown
from recon.benchmark.provenance import model_record
from recon.operators import RayTransform
from recon.training.checkpoint import WEIGHTS_DIR, load_model, shipped_weights
from recon.training.config import load_config

EXPERIMENTS = Path(__file__).resolve().parent
PROTOCOLS = EXPERIMENTS / "protocols"
RESULTS = EXPERIMENTS / "results"


def protocol_names(folder: Path) -> list[str]:
    """The protocols of a folder: the stems of its ``*.py`` files, sorted."""
    return sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("_"))


def load_protocol(folder: Path, name: str) -> Protocol:
    """``PROTOCOL`` of ``folder/<name>.py``, checked to be a Protocol called ``name``."""
    spec = importlib.util.spec_from_file_location(f"protocols.{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    protocol = getattr(module, "PROTOCOL", None)
    if not isinstance(protocol, Protocol) or protocol.name != name:
        raise SystemExit(f"{folder / name}.py: expected PROTOCOL = Protocol(name={name!r}, ...), got "
                         f"{type(protocol).__name__}{'' if protocol is None else f' {protocol.name!r}'}")
    return protocol


def rebase_links(markdown: str, prefix: str) -> str:
    """Relative Markdown links and images with ``prefix/`` in front (a section moved up one folder)."""
    return re.sub(r"\]\((?![a-z]+:|/|#)", f"]({prefix}/", markdown)


def validation_fbp_scores() -> str:
    """FBP's mean PSNR / SSIM on the validation file of ``lpd_small.yaml``, or a note if it is not simulated."""
    from recon.algorithms import fbp
    from recon.data.datasets import PairedDataset
    from recon.metrics import psnr, ssim

    path = EXPERIMENTS.parent / load_config(EXPERIMENTS / "lpd_small.yaml").data.validation
    if not path.is_file():
        return "n/a (run experiments/train_shipped.sh to simulate the validation file)"
    data = PairedDataset(path)
    y, x = (torch.stack(parts) for parts in zip(*(data[i] for i in range(len(data)))))
    reconstruction = fbp(y, RayTransform(data.geometry))
    return f"{psnr(reconstruction, x).mean():.2f} / {ssim(reconstruction, x).mean():.4f}"


def best_validation_score(validation: dict[str, float]) -> str:
    """``"PSNR / SSIM"`` of a supervised checkpoint, or the validation loss of a self-supervised one."""
    if "psnr" in validation:
        return f"PSNR / SSIM {validation['psnr']:.2f} / {validation['ssim']:.4f}"
    return f"loss {validation['loss']:.4g}"


def shipped_section() -> str:
    """How each shipped model was trained: families, size, wall-clock time, best validation scores (its logs)."""
    rows = []
    for weights in shipped_weights():
        name = weights.name
        logs = WEIGHTS_DIR / "logs" / name
        with open(logs / "epochs.csv", newline="") as file:
            steps = list(csv.DictReader(file))[-1]["step"]
        seconds = sum(int(line.split()[1]) for line in (logs / "wall_clock.txt").read_text().splitlines())
        parameters = sum(p.numel() for p in load_model(name).parameters())
        size = weights.file.stat().st_size / 2**20
        record = model_record(name)
        validated = "not recorded" if record.validation is None else ", ".join(record.validation)
        rows.append(f"| {name} | {weights.training.get('loss', 'psnr')} | {', '.join(record.training)} | {validated} | "
                    f"{record.dose()} | {parameters:,} | {size:.2f} | {steps} | {seconds / 60:.1f} | "
                    f"{best_validation_score(weights.validation)} |")
    return ("## Shipped models\n\nTrained by `bash experiments/train_shipped.sh` on 2 CPU cores (logs and configs "
            "in `recon/weights/logs/`); loss, families and dose from each checkpoint's metadata, the validation "
            "scores on its own validation data (a self-supervised model's: its own loss on the validation "
            "sinograms, no image read).\n\n"
            "| model | loss | trained on | validated on | training dose | parameters | MiB | steps | training, min | "
            "best validation score |\n|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"FBP (Hann, 0.641) on the validation file of `train_shipped.sh`: {validation_fbp_scores()}.\n")


def generalisation_section(names: list[str]) -> str:
    """Every learned model against the TV oracle, per family, from each protocol's ``comparisons.json``."""
    tables = [generalisation_markdown(json.loads(path.read_text())) for path in
              (RESULTS / name / "comparisons.json" for name in names) if path.is_file()]
    return ("## Generalisation\n\nEvery learned model against the TV oracle (TV's data term and weight chosen on "
            "the test images themselves: a stricter rival than any tuning), on test families that no model was "
            "trained or validated on: mean per-image difference learned - oracle, with its percentile-bootstrap "
            "confidence interval over the images, overall and per family.\n\n"
            + ("\n".join(table for table in tables if table) or "No learned models in the results yet.\n"))


#: Results of the experiments that are not protocols: (title, page, command), linked where the page exists.
OTHER_EXPERIMENTS = (
    ("TV's default weight rule, fitted on validation images", "tv_weight_rule/summary.md",
     "python experiments/tv_weight_rule.py"),
    ("Task-based image quality on the QA phantoms (noise, NPS, TTF, CT numbers, CHO d')", "image_quality/README.md",
     "python experiments/image_quality.py"),
    ("Noise2Inverse's FBP filter, chosen on validation images", "n2i_filter/summary.md",
     "python experiments/n2i_filter.py"),
)


def other_experiments_section() -> str:
    """Links to the results of :data:`OTHER_EXPERIMENTS` that are on disk, each with its command."""
    lines = [f"- [{title}]({page}): `{command}`" for title, page, command in OTHER_EXPERIMENTS
             if (RESULTS / page).is_file()]
    return "## Other experiments\n\nEach regenerated by its own command.\n\n" + "\n".join(lines) + "\n" if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("protocols", nargs="*", help="protocol names (default: all in experiments/protocols)")
    parser.add_argument("--readme-only", action="store_true",
                        help="run no protocol: rebuild results/README.md from the results on disk")
    args = parser.parse_args(argv)
    available = protocol_names(PROTOCOLS)
    unknown = sorted(set(args.protocols) - set(available))
    if unknown:
        parser.error(f"unknown protocols {unknown}; expected some of {available}")
    for name in [] if args.readme_only else args.protocols or available:
        run_protocol(load_protocol(PROTOCOLS, name), RESULTS / name, progress=True)
    sections = [rebase_links((RESULTS / name / "section.md").read_text(), name) for name in available
                if (RESULTS / name / "section.md").is_file()]
    write_text(RESULTS / "README.md", "# Results\n\nRegenerated by `python experiments/regenerate.py` (every table, "
               "figure and tuned weight below).\n\n" + "\n".join([shipped_section(), generalisation_section(available),
                                                                    other_experiments_section(), *sections]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
