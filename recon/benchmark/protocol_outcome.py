"""What a protocol run produced, per dose and in all: the records that its report is written from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon.benchmark.pipeline import BenchmarkOutcome
from recon.benchmark.protocol import Protocol
from recon.benchmark.provenance import ModelRecord
from recon.benchmark.tv_rows import TvSearch

__all__ = ["DoseOutcome", "ProtocolOutcome"]


@dataclass(frozen=True, kw_only=True)
class DoseOutcome:
    """What a protocol produced at one dose.

    Attributes
    ----------
    photons : float
    folder : Path
        Where its benchmark reports are.
    benchmark : BenchmarkOutcome
    rivals : dict of str to str
        Table label of each rival name: the classical specs and the TV rows.
    searches : dict of str to TvSearch
        ``"validation"`` (the tuned TV row) and ``"oracle"`` (searched on the test images).
    comparisons : list of dict
        Per learned method, classical method and group (``"all"`` first): ``photons``,
        ``learned``, ``classical`` (label), ``rival`` (rival name), ``group``, ``n``,
        and ``psnr``/``ssim`` intervals of the mean difference learned - classical.
    targets : list of dict
        Per target at this dose: its text, ``method``, ``rival`` (label), ``group``,
        ``n``, ``psnr_margin``, ``ssim_higher``, ``psnr``/``ssim`` intervals and ``met``.
    """

    photons: float
    folder: Path
    benchmark: BenchmarkOutcome
    rivals: dict[str, str]
    searches: dict[str, TvSearch]
    comparisons: list[dict[str, Any]]
    targets: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class ProtocolOutcome:
    """What :func:`run_protocol` produced.

    Attributes
    ----------
    protocol : Protocol
    models : dict of str to ModelRecord
        The learned methods' training and validation families and training doses.
    doses : list of DoseOutcome
        In the protocol's order of doses.
    files : dict of str to Path
        ``comparisons``, ``comparisons_json``, ``targets``, ``targets_json``, ``models`` and ``section``.
    """

    protocol: Protocol
    models: dict[str, ModelRecord]
    doses: list[DoseOutcome]
    files: dict[str, Path]
