"""Summaries of benchmark results: mean ± std tables, CSV, JSON and Markdown files.

Files written into the output folder, each atomically:

* ``results.csv``: one row per data level, method and image (the reference
  row ``ground truth`` included: PSNR ``inf``, seconds ``nan``);
* ``summary.json``: the data, the methods and mean / standard deviation of
  every metric per data level, method and group (``"all"`` and each label);
* ``summary.md``: the same as Markdown tables (the table printed by
  ``recon benchmark``), with a dose-sweep table when there are several levels.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recon.benchmark.files import write_json, write_text
from recon.benchmark.runner import REFERENCE, MethodResult
from recon.benchmark.scoring import METRIC_TABLE, METRICS

__all__ = ["COLUMNS", "markdown_summary", "summarize", "write_reports"]

#: Measured columns of a result row: the metrics and the seconds per image.
COLUMNS = (*METRICS, "seconds")
_HEADINGS = {**{name: metric.heading for name, metric in METRIC_TABLE.items()}, "seconds": "seconds / image"}
_DIGITS = {**{name: metric.digits for name, metric in METRIC_TABLE.items()}, "seconds": 3}


#: Columns without a spread: every image of a batch gets the batch's time divided by its size.
_MEAN_ONLY = ("seconds",)


def _statistics(values: Sequence[float], column: str) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value) and count of the finite values.

    Mean and standard deviation are NaN without finite values; the standard
    deviation is NaN for the columns of :data:`_MEAN_ONLY`.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"mean": math.nan, "std": math.nan, "finite": 0}
    spread = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": statistics.fmean(finite), "std": math.nan if column in _MEAN_ONLY else spread,
            "finite": len(finite)}


def summarize(results: Sequence[MethodResult]) -> list[dict[str, Any]]:
    """Mean and standard deviation of every column per data level, method and group.

    Returns
    -------
    list of dict
        ``{"data", "photons", "method", "group", "n", "<column>": {"mean", "std", "finite"} ...}``;
        ``group`` is ``"all"`` and then each label of the data, in order of appearance. Mean
        and std are over the ``finite`` values of the ``n``; ``seconds`` has no std (NaN):
        the images of a batch share the batch's time.
    """
    summary = []
    for result in results:
        groups = {"all": result.rows}
        for row in result.rows:
            if row["group"]:
                groups.setdefault(row["group"], []).append(row)
        for group, rows in groups.items():
            summary.append({"data": result.data.name, "photons": result.data.photons, "method": result.method,
                            "group": group, "n": len(rows),
                            **{column: _statistics([row[column] for row in rows], column) for column in COLUMNS}})
    return summary


def _number(value: float, column: str) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{_DIGITS[column]}f}"


def _cell(entry: dict[str, Any], column: str) -> str:
    """``mean ± std``, the mean alone for columns without a spread, and ``(k of n)`` if some were not finite."""
    mean, std, finite = entry[column]["mean"], entry[column]["std"], entry[column]["finite"]
    if math.isnan(mean):
        return "n/a"
    text = _number(mean, column) if math.isnan(std) else f"{_number(mean, column)} ± {_number(std, column)}"
    return text if finite == entry["n"] else f"{text} ({finite} of {entry['n']})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _roi_text(custom_roi: bool) -> str:
    if custom_roi:
        return "the given region of interest"
    return "the soft tissue of each ground truth (-100 to 100 HU, eroded by 2 pixels)"


def _batch_text(batch_size: int | None) -> str:
    return "" if batch_size is None else f"of up to {batch_size} sinograms "


def markdown_summary(results: Sequence[MethodResult], *, custom_roi: bool = False,
                     batch_size: int | None = None) -> str:
    """The Markdown report: per data level a table of mean ± std, the subgroups, and the dose sweep.

    ``custom_roi``: the HU scores used a given region of interest (:attr:`RunConfig.roi
    <recon.benchmark.runner.RunConfig>`) rather than the default soft tissue. ``batch_size``:
    the run's (:attr:`RunConfig.batch_size <recon.benchmark.runner.RunConfig>`), named in the
    caption of the seconds column.
    """
    summary = summarize(results)
    levels = list(dict.fromkeys(result.data for result in results))
    sections = []
    for level in levels:
        entries = [entry for entry in summary if entry["data"] == level.name]
        overall = [entry for entry in entries if entry["group"] == "all"]
        sections.append(
            f"## {level.name}\n\n{len(level)} images, {level.geometry.describe()}; mean ± standard "
            "deviation over the images. PSNR and SSIM with data range max(gt) - min(gt) of each image "
            "(LoDoPaB-CT); data consistency: RMS residual of A x against the sinogram in units of the "
            f"noise standard deviation (1 = at the noise level; the {REFERENCE!r} row scores the ground "
            "truths themselves: the floor that noise and simulation model error allow); HU error: "
            "|mean of the reconstruction - mean of the ground truth| and HU noise: standard deviation of the "
            f"reconstruction, in HU, in {_roi_text(custom_roi)} (n/a where it is empty); \"(k of n)\": the "
            "mean is over the k finite values. Seconds / image: the wall-clock time of each batch "
            f"{_batch_text(batch_size)}divided by its number of images, averaged over the images (no ± "
            "given: the images of a batch are timed together).\n\n"
            + _table(["method", *(_HEADINGS[c] for c in COLUMNS)],
                     [[entry["method"], *(_cell(entry, c) for c in COLUMNS)] for entry in overall])
        )
        grouped = [entry for entry in entries if entry["group"] != "all"]
        if grouped:
            sections.append(f"### {level.name}: by group\n\n" + _table(
                ["method", "group", "n", *(_HEADINGS[c] for c in METRICS)],
                [[entry["method"], entry["group"], str(entry["n"]), *(_cell(entry, c) for c in METRICS)]
                 for entry in sorted(grouped, key=lambda e: e["group"])]))
    if len(levels) > 1:
        methods = list(dict.fromkeys(result.method for result in results if result.method != REFERENCE))
        means = {(entry["data"], entry["method"]): entry for entry in summary if entry["group"] == "all"}
        sections.append("## Dose sweep: mean PSNR (dB) / SSIM\n\n" + _table(
            ["method", *(level.name for level in levels)],
            [[method, *(f"{_number(means[level.name, method]['psnr']['mean'], 'psnr')} / "
                        f"{_number(means[level.name, method]['ssim']['mean'], 'ssim')}" for level in levels)]
             for method in methods]))
    return "\n\n".join(sections) + "\n"


def _json_value(value: Any) -> Any:
    """Non-finite floats as None, so that the file is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    return value


def write_reports(results: Sequence[MethodResult], output: Path, *, metadata: dict[str, Any],
                  custom_roi: bool = False, batch_size: int | None = None) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.json`` and ``summary.md`` into ``output``.

    Parameters
    ----------
    results : sequence of MethodResult
    output : Path
        Existing folder.
    metadata : dict
        JSON entries recorded in ``summary.json`` (command line, versions, machine ...).
    custom_roi, batch_size
        See :func:`markdown_summary`.

    Returns
    -------
    dict
        ``{"csv": path, "json": path, "markdown": path}``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["data", "photons", "method", "index", "group", *COLUMNS])
    for result in results:
        for row in result.rows:
            writer.writerow([result.data.name, result.data.photons, result.method, row["index"], row["group"],
                             *(repr(row[column]) for column in COLUMNS)])
    levels = list(dict.fromkeys(result.data for result in results))
    document = {
        **metadata,
        "data": [{"name": level.name, "key": level.key, "samples": len(level), "photons": level.photons,
                  "mu_max": level.mu_max, "geometry": level.geometry.to_dict()} for level in levels],
        "methods": list(dict.fromkeys(result.method for result in results if result.method != REFERENCE)),
        "summary": summarize(results),
    }
    markdown = "# Benchmark\n\n" + markdown_summary(results, custom_roi=custom_roi, batch_size=batch_size)
    return {
        "csv": write_text(output / "results.csv", buffer.getvalue()),
        "json": write_json(output / "summary.json", _json_value(document)),
        "markdown": write_text(output / "summary.md", markdown),
    }
