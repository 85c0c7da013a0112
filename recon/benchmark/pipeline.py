"""One call from data and method specs to every output file of a benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon.benchmark.data import BenchmarkData
from recon.benchmark.figure import example_figure
from recon.benchmark.files import file_slug
from recon.benchmark.methods import CpuBackend, Method, build_methods
from recon.benchmark.report import markdown_summary, write_reports
from recon.benchmark.runner import MethodResult, RunConfig, run_benchmark
from recon.files import output_folder
from recon.plotting import Window, ct_window

__all__ = ["BenchmarkOutcome", "benchmark"]


@dataclass(frozen=True)
class BenchmarkOutcome:
    """What :func:`benchmark` produced.

    Attributes
    ----------
    results : list of MethodResult
        Per data level and method (see :func:`~recon.benchmark.runner.run_benchmark`).
    files : dict of str to Path
        ``csv``, ``json``, ``markdown`` and one ``figure:<data name>`` per level with examples.
    table : str
        The Markdown summary (what the command prints).
    """

    results: list[MethodResult]
    files: dict[str, Path]
    table: str


def benchmark(levels: Sequence[BenchmarkData], methods: Sequence[str | Method], config: RunConfig, *,
              cpu_backend: CpuBackend = "threads", metadata: dict[str, Any] | None = None,
              window: str | Window = "soft") -> BenchmarkOutcome:
    """Run ``methods`` on ``levels`` and write the CSV, JSON, Markdown and figures into ``config.output``.

    Parameters
    ----------
    levels : sequence of BenchmarkData
        One or more data levels on one geometry (:func:`~recon.benchmark.data.builtin_data`,
        :func:`~recon.benchmark.data.open_data`).
    methods : sequence of str or Method
        Specs (:mod:`recon.benchmark.methods`) or ready reconstructors.
    config : RunConfig
    cpu_backend : {"threads", "sparse"}
        Backend of the operators built from specs.
    metadata : dict, optional
        Recorded in ``summary.json``.
    window : str or Window
        CT window of the figures in HU (:func:`recon.plotting.ct_window`):
        ``"soft"`` (W400/L40, default), ``"lung"``, ``"bone"`` or ``"W,L"``.

    Raises
    ------
    ValueError
        Unknown or repeated methods, a checkpoint of another geometry, no data, a
        bad window (before anything is written).
    NotADirectoryError
        ``config.output`` is a file.
    recon.files.FolderInUseError
        Another recon process is writing to ``config.output`` (see
        :func:`recon.files.output_folder`).
    """
    if not levels:
        raise ValueError("data: expected at least one dataset, got none")  # before building methods
    window = ct_window(window)
    specs = [method for method in methods if not isinstance(method, Method)]
    built = iter(build_methods(specs, levels[0].geometry, cpu_backend=cpu_backend) if specs else [])
    resolved = [method if isinstance(method, Method) else next(built) for method in methods]
    with output_folder(config.output):
        results = run_benchmark(levels, resolved, config)
        custom_roi = config.roi is not None
        files = write_reports(results, config.output, metadata={**(metadata or {}), "roi": config.roi_key()},
                              custom_roi=custom_roi, batch_size=config.batch_size)
        for level in dict.fromkeys(result.data for result in results):
            name = "examples.png" if len(levels) == 1 else f"examples_{file_slug(level.name)}.png"
            figure = example_figure([r for r in results if r.data is level], config.output / name, window=window)
            if figure is not None:
                files[f"figure:{level.name}"] = figure
    table = markdown_summary(results, custom_roi=custom_roi, batch_size=config.batch_size)
    return BenchmarkOutcome(results=results, files=files, table=table)
