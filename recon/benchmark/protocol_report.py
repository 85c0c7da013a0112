"""Markdown and JSON reports of a protocol run: the results section, paired comparisons, targets, models."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recon.benchmark.comparison import PAIRED_METRICS, comparisons_markdown
from recon.benchmark.protocol import TV_ORACLE, Protocol
from recon.benchmark.protocol_outcome import DoseOutcome, ProtocolOutcome
from recon.benchmark.provenance import ModelRecord
from recon.benchmark.report import markdown_summary

__all__ = ["comparisons_document", "demote_headings", "generalisation_markdown", "section_markdown",
           "targets_document"]


def demote_headings(markdown: str, levels: int = 1) -> str:
    """Markdown with every heading ``levels`` deeper (a report nested under another heading)."""
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown.split("\n"))


def comparisons_document(protocol: Protocol, doses: Sequence[DoseOutcome]) -> dict[str, Any]:
    """``comparisons.json``: the protocol, the bootstrap settings and every comparison row of every dose."""
    settings = protocol.bootstrap
    return {"protocol": protocol.name, "description": protocol.description, "confidence": settings.confidence,
            "resamples": settings.resamples, "seed": settings.seed,
            "rows": [row for dose in doses for row in dose.comparisons]}


def targets_document(doses: Sequence[DoseOutcome]) -> dict[str, Any]:
    """``targets.json``: every target row of every dose."""
    return {"rows": [row for dose in doses for row in dose.targets]}


def _doses(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    return list(dict.fromkeys(row["photons"] for row in rows))


def generalisation_markdown(document: Mapping[str, Any]) -> str:
    """Per dose, every learned model against the TV oracle, overall and per family, from ``comparisons.json``."""
    rows = [row for row in document["rows"] if row["rival"] == TV_ORACLE]
    return "\n".join(f"### {document['description']}: {photons:g} photons per bin\n\n"
                     + comparisons_markdown([row for row in rows if row["photons"] == photons],
                                            document["confidence"])
                     for photons in _doses(rows))


def _families(names: Sequence[str] | None) -> str:
    return "not recorded" if names is None else ", ".join(names) or "none recorded"


def _models_markdown(models: Mapping[str, ModelRecord]) -> str:
    if not models:
        return "No learned methods.\n"
    lines = ["| model | trained on | validated on | training dose |", "|---|---|---|---|"]
    lines += [f"| {record.name} | {_families(record.training)} | {_families(record.validation)} | {record.dose()} |"
              for record in models.values()]
    return "\n".join(lines) + "\n"


def _targets_markdown(rows: Sequence[Mapping[str, Any]], confidence: float) -> str:
    if not rows:
        return "No targets at this dose.\n"
    percent = f"{100 * confidence:g} %"
    header = ["target", "rival", "n", *(f"{heading} [{percent} CI]" for heading in PAIRED_METRICS.values()),
              "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["target"], row["rival"], str(row["n"])]
        cells += [f"{row['psnr']['mean']:+.2f} [{row['psnr']['low']:+.2f}, {row['psnr']['high']:+.2f}]",
                  f"{row['ssim']['mean']:+.4f} [{row['ssim']['low']:+.4f}, {row['ssim']['high']:+.4f}]",
                  "met" if row["met"] else "NOT met"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _choices(dose: DoseOutcome) -> str:
    def described(search, where: str) -> str:
        edge = "; at the edge of its grid, the best may lie beyond" if search.at_edge else ""
        return (f"{search.data_term}, weight {search.weight:g} (mean PSNR {search.psnr:.2f} dB on the {where}"
                f"{edge})")

    return (f"TV tuned on the validation images: {described(dose.searches['validation'], 'validation images')}. "
            f"TV oracle, chosen on the test images: {described(dose.searches['oracle'], 'test images')}. "
            "Every candidate's score: `tv_search.json`.")


def _dose_heading(photons: float) -> str:
    return f"{photons:g} photons per bin"


def section_markdown(outcome: ProtocolOutcome, output: Path) -> dict[str, str]:
    """``section.md`` (the results page's section), ``comparisons.md`` and ``targets.md`` of a run.

    Parameters
    ----------
    outcome : ProtocolOutcome
    output : Path
        The protocol's folder: links to figures are relative to it.

    Returns
    -------
    dict of str to str
        ``{"section": ..., "comparisons": ..., "targets": ...}``.
    """
    protocol = outcome.protocol
    grid, settings = protocol.tv_grid, protocol.bootstrap
    candidates = "; ".join(f"{term}: {', '.join(f'{w:g}' for w in weights)}" for term, weights in grid.candidates())
    intro = (
        f"## {protocol.description}\n\n"
        f"Protocol `{protocol.name}`: {protocol.geometry.describe()}. Test images (scored, never used for "
        f"a choice): {protocol.test.describe()}. Validation images (for every choice): "
        f"{protocol.validation.describe()}.\n\n"
        "Three TV rows: TV with recon's defaults; TV tuned by mean PSNR on the validation images over the grid of "
        f"data terms and weights ({candidates}); and the TV oracle, the best of the same grid on the test images "
        "themselves: no tuning can beat it on these images, so it is a stricter rival than TV in use, not a "
        f"method. Every TV row runs {grid.iterations} iterations. Learned - classical differences are means of "
        f"per-image differences with {100 * settings.confidence:g} % percentile-bootstrap intervals over the "
        f"images ({settings.resamples} resamples, seed {settings.seed}): better / worse where the interval "
        "excludes 0, else tie.\n\n"
        + "".join(f"Note: {note}\n\n" for note in protocol.notes)
        + "### Models\n\n" + _models_markdown(outcome.models)
    )
    parts, comparisons, targets = [intro], ["# Paired comparisons: learned - classical\n"], ["# Targets\n"]
    for dose in outcome.doses:
        heading = _dose_heading(dose.photons)
        compared = comparisons_markdown(dose.comparisons, settings.confidence) if dose.comparisons else \
            "No learned methods to compare.\n"
        checked = _targets_markdown(dose.targets, settings.confidence)
        figures = [path for key, path in dose.benchmark.files.items() if key.startswith("figure:")]
        parts.append(
            f"### {heading}\n\n{_choices(dose)}\n\n"
            + "".join(f"![examples]({Path(os.path.relpath(path, output)).as_posix()})\n\n" for path in figures)
            + demote_headings(markdown_summary(dose.benchmark.results), 2)
            + f"\n#### {heading}: paired comparisons, learned - classical\n\n{compared}"
            + f"\n#### {heading}: targets\n\nmet: the mean margin reaches the target (and the mean SSIM is higher "
            f"where required); the interval says how sure that is.\n\n{checked}")
        comparisons.append(f"## {heading}\n\n{compared}")
        targets.append(f"## {heading}\n\n{checked}")
    return {"section": "\n".join(parts), "comparisons": "\n".join(comparisons), "targets": "\n".join(targets)}
