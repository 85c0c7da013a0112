"""Run a :class:`~recon.benchmark.protocol.Protocol`: refuse, tune, benchmark, compare, check, report.

For each dose of the protocol :func:`run_protocol`

1. (once, before any work) reads every learned method's checkpoint and
   refuses a model trained or validated on a test family
   (:func:`~recon.benchmark.provenance.refuse_test_families`);
2. simulates the validation and the test images at the dose and searches
   TV's grid on each (:mod:`~recon.benchmark.tv_rows`): the validation choice
   is the tuned TV row, the test choice the oracle;
3. benchmarks the protocol's methods and the three TV rows on the test
   images (:func:`~recon.benchmark.pipeline.benchmark`, CPU backend
   ``sparse``);
4. compares every learned method with every classical one, image by image,
   with bootstrap confidence intervals (:mod:`~recon.benchmark.comparison`),
   and checks the targets.

Files in ``output`` (per dose in ``photons-<N0>/`` when there are several
doses, else in ``output`` itself): the benchmark's ``results.csv``,
``summary.json``, ``summary.md``, ``examples.png`` and ``tv_search.json``
(both searches' tables); for the whole protocol ``comparisons.json``,
``comparisons.md``, ``targets.json``, ``targets.md``, ``models.json`` and
``section.md`` (:mod:`~recon.benchmark.protocol_report`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from recon.benchmark.comparison import Bootstrap, group_names, paired_comparison
from recon.benchmark.data import BenchmarkData
from recon.benchmark.files import write_json, write_text
from recon.benchmark.methods import Method, build_methods, learned_model_spec
from recon.benchmark.pipeline import benchmark
from recon.benchmark.protocol import ImageSet, Protocol, Target
from recon.benchmark.protocol_outcome import DoseOutcome, ProtocolOutcome
from recon.benchmark.protocol_report import comparisons_document, section_markdown, targets_document
from recon.benchmark.provenance import refuse_test_families
from recon.benchmark.runner import MethodResult, RunConfig
from recon.benchmark.tv_rows import TvSearch, search_tv, tv_methods
from recon.operators import RayTransform
from recon.version import __version__

__all__ = ["check_target", "dose_folder", "run_protocol"]

#: CPU backend of every operator of a protocol run.
CPU_BACKEND = "sparse"


def _simulated(image_set: ImageSet, operator: RayTransform, photons: float
               ) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """``(sinograms (N, 1, A, D), images (N, 1, nx, ny), families)`` of an image set at a dose."""
    images, labels = image_set.images(operator.geometry)
    return (torch.from_numpy(image_set.sinograms(images, operator, photons))[:, None],
            torch.from_numpy(images)[:, None], labels)


def _test_data(protocol: Protocol, y: torch.Tensor, x: torch.Tensor, labels: tuple[str, ...],
               photons: float) -> BenchmarkData:
    return BenchmarkData(name=f"test images, {photons:g} photons", key=protocol.test.key(x.numpy(), photons),
                         geometry=protocol.geometry, samples=TensorDataset(y, x), photons=float(photons),
                         mu_max=protocol.test.simulation(photons).mu_max, groups=labels)


def check_target(target: Target, method: MethodResult, rival: MethodResult, settings: Bootstrap
                 ) -> dict[str, Any]:
    """Whether ``method`` beats ``rival`` as ``target`` asks, on the images of ``target.group``.

    Parameters
    ----------
    target : Target
    method, rival : MethodResult
        The two methods' results on the same images.
    settings : Bootstrap

    Returns
    -------
    dict
        ``target`` (its text), ``method``, ``rival`` (their names), ``psnr_margin``,
        ``ssim_higher``, :func:`~recon.benchmark.comparison.paired_comparison`'s
        ``group``, ``n``, ``psnr`` and ``ssim`` (intervals of ``method - rival``),
        and ``met``: the mean PSNR difference is at least the margin and, where
        ``ssim_higher``, the mean SSIM difference is above 0.
    """
    comparison = paired_comparison(method, rival, target.group, settings)
    met = comparison["psnr"]["mean"] >= target.psnr_margin and (not target.ssim_higher
                                                                  or comparison["ssim"]["mean"] > 0)
    return {"target": target.describe(), "method": method.method, "rival": rival.method,
            "psnr_margin": target.psnr_margin, "ssim_higher": target.ssim_higher, **comparison, "met": met}


def _earlier_searches(path: Path, setting: dict[str, Any]) -> dict[str, TvSearch] | None:
    """The TV searches saved at ``path`` by a run with the same ``setting`` (grid, iterations, dose, images), or None.

    TV's searches are most of a protocol's time; a run that was stopped after
    them (or is repeated for new models) does not search again. Delete the
    file after changing TV itself.
    """
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if {key: saved.get(key) for key in setting} != json.loads(json.dumps(setting)):
        return None
    return {key: TvSearch(**saved[key]) for key in ("validation", "oracle")}


def _run_dose(protocol: Protocol, photons: float, folder: Path, learned: list[Method], classical: list[Method],
              operator: RayTransform, progress: bool) -> DoseOutcome:
    def say(text: str) -> None:
        if progress:
            print(f"{protocol.name}, {photons:g} photons: {text}", file=sys.stderr)

    validation_y, validation_x, _ = _simulated(protocol.validation, operator, photons)
    test_y, test_x, labels = _simulated(protocol.test, operator, photons)
    search_file = folder / "tv_search.json"
    setting = {"iterations": protocol.tv_grid.iterations, "photons": photons,
               "grid": [[term, list(weights)] for term, weights in protocol.tv_grid.candidates()],
               "images": {"validation": protocol.validation.describe(), "oracle": protocol.test.describe()}}
    searches = _earlier_searches(search_file, setting)
    if searches is not None:
        say(f"reusing TV's searches of an earlier run with the same grid and images ({search_file})")
    else:
        say("searching TV's grid on the validation images")
        searches = {"validation": search_tv(protocol.tv_grid, operator, validation_y, validation_x)}
        say("searching TV's grid on the test images (the oracle)")
        searches["oracle"] = search_tv(protocol.tv_grid, operator, test_y, test_x)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(search_file, {**setting, **{key: search.to_dict() for key, search in searches.items()}})
    validated, oracle = searches["validation"], searches["oracle"]
    data = _test_data(protocol, test_y, test_x, labels, photons)
    say(f"TV tuned on validation: {validated.data_term}, {validated.weight:g}; "
        f"oracle: {oracle.data_term}, {oracle.weight:g}")
    tv_rows = tv_methods(protocol.tv_grid, operator, validated, oracle)
    methods = [*classical, *tv_rows.values(), *learned]
    outcome = benchmark([data], methods, RunConfig(output=folder, resume=False, progress=progress),
                        cpu_backend=CPU_BACKEND,
                        metadata={"protocol": protocol.name, "recon_version": __version__,
                                  "tv": {key: row.name for key, row in tv_rows.items()}})
    results = {result.method: result for result in outcome.results}
    rivals = {**{method.name: method.name for method in classical}, **{key: row.name for key, row in tv_rows.items()}}
    comparisons = [{"photons": photons, "learned": method.name, "classical": label, "rival": rival,
                    **paired_comparison(results[method.name], results[label], group, protocol.bootstrap)}
                   for method in learned for rival, label in rivals.items()
                   for group in group_names(results[method.name])]
    targets = [{"photons": photons, **check_target(target, results[target.method],
                                                   results[rivals.get(target.rival, target.rival)],
                                                   protocol.bootstrap)}
               for target in protocol.targets_at(photons)]
    return DoseOutcome(photons=photons, folder=folder, benchmark=outcome, rivals=rivals, searches=searches,
                       comparisons=comparisons, targets=targets)


def dose_folder(output: str | os.PathLike, protocol: Protocol, photons: float) -> Path:
    """Where :func:`run_protocol` writes one dose's tables: ``output`` itself, or ``photons-<N0>/`` for several doses."""
    return Path(output) / f"photons-{photons:g}" if len(protocol.photons) > 1 else Path(output)


def run_protocol(protocol: Protocol, output: str | Path, *, progress: bool = False) -> ProtocolOutcome:
    """Run every step of a protocol (see the module documentation) and write its files into ``output``.

    Parameters
    ----------
    protocol : Protocol
    output : path-like
        Folder of the results (created); results of an earlier run are recomputed, not reused.
    progress : bool
        Report each step and show the benchmark's progress bar on stderr.

    Returns
    -------
    ProtocolOutcome

    Raises
    ------
    ValueError
        A learned method trained or validated on a test family of the protocol,
        an unknown method, or a checkpoint of another geometry (before any work).
    """
    output = Path(output)
    models = refuse_test_families(protocol.methods, protocol.test.families, protocol.name)
    operator = RayTransform(protocol.geometry, cpu_backend=CPU_BACKEND)
    built = build_methods(protocol.methods, protocol.geometry, cpu_backend=CPU_BACKEND)
    learned = [method for method in built if learned_model_spec(method.name)]
    classical = [method for method in built if not learned_model_spec(method.name)]
    doses = [_run_dose(protocol, photons, dose_folder(output, protocol, photons), learned, classical, operator,
                       progress) for photons in protocol.photons]
    files = {
        "comparisons_json": write_json(output / "comparisons.json", comparisons_document(protocol, doses)),
        "targets_json": write_json(output / "targets.json", targets_document(doses)),
        "models": write_json(output / "models.json", {name: record.to_dict() for name, record in models.items()}),
    }
    outcome = ProtocolOutcome(protocol=protocol, models=models, doses=doses, files=files)
    sections = section_markdown(outcome, output)
    for name, text in sections.items():
        files[name] = write_text(output / f"{name}.md", text)
    return outcome
