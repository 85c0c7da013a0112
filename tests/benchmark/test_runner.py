"""The harness end to end: every output, resume without recomputation, groups, dose sweep."""

from __future__ import annotations

import csv
import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from recon import RayTransform
from recon.algorithms import fbp
from recon.benchmark import BenchmarkData, Method, RunConfig, benchmark, build_method
from recon.benchmark.runner import REFERENCE, part_paths
from recon.benchmark.scoring import data_consistency
from recon.metrics import psnr, roi_hu_stats
from tests.benchmark.conftest import GEOMETRY


class Counting:
    """A reconstructor that counts its calls and can fail on a given call."""

    def __init__(self, spec: str, fail_on_call: int | None = None) -> None:
        self.inner = build_method(spec, GEOMETRY).reconstruct
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, y):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        return self.inner(y)


def methods(fail_on_call: int | None = None) -> list[Method]:
    return [Method("fbp", "test:fbp", Counting("fbp")),
            Method("cgls", "test:cgls", Counting("cgls:iterations=4", fail_on_call))]


def calls(method_list: list[Method]) -> list[int]:
    return [method.reconstruct.calls for method in method_list]


def test_every_output_is_written(tmp_path, tiny_levels):
    config = RunConfig(output=tmp_path / "out", batch_size=2, examples=2, progress=False)
    outcome = benchmark(tiny_levels, ["fbp", "cgls:iterations=4", "odl-fbp"], config,
                        metadata={"note": "tiny"})
    names = {path.name for path in (tmp_path / "out").iterdir()}
    assert {"results.csv", "summary.json", "summary.md", "parts"} <= names
    figures = sorted((tmp_path / "out").glob("examples_*.png"))
    assert len(figures) == 2 and set(outcome.files.values()) >= set(figures)
    assert plt.imread(figures[0]).ndim == 3  # a readable RGB(A) PNG
    assert not [p for p in (tmp_path / "out").rglob("*.part")]
    with open(tmp_path / "out" / "results.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 * (3 + 1) * 5  # the methods and the ground-truth reference
    assert {row["group"] for row in rows} == {"overlapping-ellipses", "shepp-logan", "forbild", "anatomy"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["note"] == "tiny" and summary["methods"] == ["fbp", "cgls:iterations=4", "odl-fbp"]
    overall = [e for e in summary["summary"] if e["group"] == "all"]
    assert len(overall) == 8 and all(e["n"] == 5 for e in overall)
    # rows hold the metrics of the method's own output; the summary is their mean
    y, gt = (torch.stack(parts) for parts in zip(*(tiny_levels[1].samples[i] for i in range(5))))
    direct = psnr(fbp(y, RayTransform(GEOMETRY)), gt)[:, 0].tolist()
    stored = [float(r["psnr"]) for r in rows if r["method"] == "fbp" and r["photons"] == "64.0"]
    assert stored == pytest.approx(direct, rel=1e-6)  # float32 FBP, batches of 2 vs 5
    fbp_rows = [float(r["psnr"]) for r in rows if r["method"] == "fbp" and r["photons"] == "4096.0"]
    fbp_entry = next(e for e in overall if e["method"] == "fbp" and e["photons"] == 4096)
    assert fbp_entry["psnr"]["mean"] == pytest.approx(sum(fbp_rows) / 5)
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "by group" in markdown and "Dose sweep" in markdown and "| odl-fbp |" in markdown
    assert outcome.table in markdown
    assert all(result.examples.shape == (2, 17, 11) for result in outcome.results)


def test_reference_row_scores_the_ground_truths(tmp_path, tiny_levels):
    outcome = benchmark(tiny_levels[:1], ["fbp"], RunConfig(output=tmp_path, examples=2, progress=False))
    reference, fbp_result = outcome.results
    assert reference.method == REFERENCE and fbp_result.method == "fbp"
    truths = torch.stack([tiny_levels[0].samples[i][1] for i in range(5)])
    assert reference.example_indices == fbp_result.example_indices == (0, 3)  # ellipses and a real CT slice
    np.testing.assert_array_equal(reference.examples, truths[[0, 3], 0].numpy())
    y = torch.stack([tiny_levels[0].samples[i][0] for i in range(5)])
    expected = data_consistency(truths, y, RayTransform(GEOMETRY), photons=4096, mu_max=tiny_levels[0].mu_max)
    assert [row["data_consistency"] for row in reference.rows] == pytest.approx(expected.tolist())
    assert all(row["psnr"] == math.inf and row["ssim"] == pytest.approx(1) and math.isnan(row["seconds"])
               for row in reference.rows)
    markdown = (tmp_path / "summary.md").read_text()
    assert "| ground truth | n/a | 1.0000 ± 0.0000 |" in markdown
    with pytest.raises(ValueError, match="reserved"):
        benchmark(tiny_levels[:1], ["fbp", Method(REFERENCE, "x", lambda y: y)], RunConfig(output=tmp_path))


def test_lower_dose_scores_lower(tmp_path, tiny_levels):
    outcome = benchmark(tiny_levels, ["fbp"], RunConfig(output=tmp_path, examples=0, progress=False))
    high, low = (torch.tensor([row["psnr"] for row in result.rows]) for result in outcome.results
                 if result.method == "fbp")
    assert high.mean() > low.mean() + 0.5  # deterministic (seeded); 0.9 dB at these sizes


def test_interrupted_run_resumes_without_recomputing_finished_methods(tmp_path, tiny_levels):
    config = RunConfig(output=tmp_path, batch_size=2, progress=False)
    level = tiny_levels[:1]
    first = methods(fail_on_call=3)  # cgls is interrupted in its second batch
    with pytest.raises(KeyboardInterrupt):
        benchmark(level, first, config)
    assert calls(first) == [1 + 3, 3]  # warm-up + 3 batches; cgls stopped
    assert part_paths(tmp_path, level[0], "fbp")[0].is_file()
    assert not part_paths(tmp_path, level[0], "cgls")[0].exists()
    assert not (tmp_path / "results.csv").exists()

    second = methods()
    outcome = benchmark(level, second, config)
    assert calls(second) == [0, 4]  # fbp reused, cgls computed
    assert [(result.method, result.reused) for result in outcome.results] == [
        (REFERENCE, True), ("fbp", True), ("cgls", False)]
    reused = outcome.results[1]
    assert len(reused.rows) == 5 and reused.examples.shape == (3, 17, 11)

    third = methods()
    benchmark(level, third, config)
    assert calls(third) == [0, 0]
    fresh = methods()
    benchmark(level, fresh, RunConfig(output=tmp_path, batch_size=2, progress=False, resume=False))
    assert calls(fresh) == [4, 4]
    other_batch = methods()
    benchmark(level, other_batch, RunConfig(output=tmp_path, batch_size=5, progress=False))
    assert calls(other_batch) == [2, 2]  # another key: recomputed


def test_parts_saved_under_another_metric_set_are_recomputed_not_reused(tmp_path, tiny_levels, monkeypatch):
    from recon.benchmark import runner

    config = RunConfig(output=tmp_path, batch_size=2, progress=False)
    level = tiny_levels[:1]
    first = methods()
    benchmark(level, first, config)
    # A part from before a metric existed: its rows lack the metric, its key the metric set.
    rows_path = part_paths(tmp_path, level[0], "fbp")[0]
    stored = json.loads(rows_path.read_text())
    stored["key"]["metrics"] = ["psnr", "ssim"]
    stored["rows"] = [{k: v for k, v in row.items() if k != "hu_noise"} for row in stored["rows"]]
    rows_path.write_text(json.dumps(stored))
    second = methods()
    outcome = benchmark(level, second, config)
    assert calls(second) == [4, 0]  # fbp recomputed, cgls reused
    assert all("hu_noise" in row for result in outcome.results for row in result.rows)
    assert runner.METRICS == tuple(json.loads(rows_path.read_text())["key"]["metrics"])


def test_empty_data_and_bad_configs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        BenchmarkData(name="nothing", key="k", geometry=GEOMETRY,
                      samples=TensorDataset(torch.zeros(0, 1, 7, 23), torch.zeros(0, 1, 17, 11)))
    with pytest.raises(ValueError, match="batch_size"):
        RunConfig(output=tmp_path, batch_size=0)
    with pytest.raises(ValueError, match="at least one dataset"):
        benchmark([], ["fbp"], RunConfig(output=tmp_path))


def test_repeated_and_missing_methods_are_refused_before_anything_is_written(tmp_path, tiny_levels):
    config = RunConfig(output=tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match=r"\['fbp'\] more than once"):
        benchmark(tiny_levels, ["fbp", "tv", "fbp"], config)
    with pytest.raises(ValueError, match="at least one method"):
        benchmark(tiny_levels, [], config)
    assert not config.output.exists()


def test_wrong_output_shape_names_the_method(tmp_path, tiny_levels):
    transposed = Method("transposed", "t", lambda y: torch.zeros(len(y), 1, 11, 17))
    with pytest.raises(ValueError, match="transposed: expected reconstructions of shape"):
        benchmark(tiny_levels[:1], [transposed], RunConfig(output=tmp_path, progress=False))


def test_hu_columns_with_the_default_and_a_given_region(tmp_path, tiny_levels):
    level = tiny_levels[:1]
    outcome = benchmark(level, ["fbp"], RunConfig(output=tmp_path / "default", examples=0, progress=False))
    with open(tmp_path / "default" / "results.csv") as file:
        header = next(csv.reader(file))
    assert header[-3:] == ["hu_error", "hu_noise", "seconds"]
    markdown = (tmp_path / "default" / "summary.md").read_text()
    assert "| HU error | HU noise |" in markdown and "soft tissue of each ground truth" in markdown
    assert json.loads((tmp_path / "default" / "summary.json").read_text())["roi"] == "soft tissue"
    reference = outcome.results[0].rows
    assert [row["hu_error"] == 0 for row in reference] == [not math.isnan(row["hu_noise"]) for row in reference]
    assert any(row["hu_error"] == 0 for row in reference)  # some truths have soft tissue

    region = torch.zeros(GEOMETRY.image_shape, dtype=torch.bool)
    region[6:11, 3:8] = True
    config = RunConfig(output=tmp_path / "given", examples=0, progress=False, roi=region)
    outcome = benchmark(level, ["fbp"], config)
    y = torch.stack([level[0].samples[i][0] for i in range(5)])
    _, noise = roi_hu_stats(fbp(y, RayTransform(GEOMETRY)), region)
    assert [row["hu_noise"] for row in outcome.results[1].rows] == pytest.approx(noise[:, 0].tolist(), rel=1e-4)
    assert "the given region of interest" in (tmp_path / "given" / "summary.md").read_text()
    with pytest.raises(ValueError, match=r"roi: expected the image shape \(17, 11\), got \(11, 17\)"):
        benchmark(level, ["fbp"], RunConfig(output=tmp_path / "bad", roi=region.T.contiguous()))
    with pytest.raises(ValueError, match="roi: expected a boolean tensor"):
        RunConfig(output=tmp_path, roi=region.float())
