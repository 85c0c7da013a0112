"""Benchmark protocols: image sets, validation, the refusal, the TV rows, bootstrap intervals, targets, reports."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import scipy.stats
import torch

import recon
from recon.benchmark import comparison, tv_rows
from recon.benchmark.comparison import Bootstrap, Interval, bootstrap_interval, paired_comparison
from recon.benchmark.protocol import (
    TEST_IMAGES,
    TV_GRID,
    TV_ORACLE,
    TV_VALIDATED,
    VALIDATION_IMAGES,
    ImageSet,
    Protocol,
    Target,
    TvGrid,
)
from recon.benchmark.protocol_run import check_target, run_protocol
from recon.benchmark.provenance import model_record, refuse_test_families
from recon.benchmark.runner import MethodResult
from recon.data.families import PhantomSource
from recon.data.simulated import Simulation, simulate_images
from recon.models import build_model
from recon.training.checkpoint import save_model

#: 24 x 24 image, 12 angles, 35 bins: an end-to-end protocol run in seconds.
GEOMETRY = recon.Geometry.parallel(image_size=24, num_angles=12, num_detectors=35)
TEST = ImageSet(blocks=(("overlapping-ellipses", 2), ("anatomy", 2)), seed=1)
VALIDATION = ImageSet(blocks=(("pelvis", 1), ("polygons", 1)), seed=2)
GRID = TvGrid(ls=(1e-4, 4e-4), wls=(2e-6,), iterations=5)


def checkpoint(path, **metadata):
    """A tiny untrained Learned Primal-Dual on :data:`GEOMETRY` (it returns its FBP start) with metadata."""
    model = build_model("lpd", geometry=GEOMETRY, iterations=2, hidden_channels=6, dual_hidden_channels=4)
    return str(save_model(model, path, extra_metadata=metadata))


def tiny_protocol(methods, **changes) -> Protocol:
    settings = dict(name="tiny", description="Tiny protocol", photons=4096, methods=methods, geometry=GEOMETRY,
                    test=TEST, validation=VALIDATION, tv_grid=GRID, bootstrap=Bootstrap(resamples=200))
    return Protocol(**{**settings, **changes})


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory):
    return checkpoint(tmp_path_factory.mktemp("models") / "mixed.safetensors",
                      physics={"phantom": "mixed", "photons": 4096.0},
                      families={"training": ["mixed"], "validation": ["pelvis"]})


# image sets ---------------------------------------------------------------------------------------------------------

def test_an_image_set_draws_its_blocks_reproducibly_with_phantom_source():
    images, labels = TEST.images(GEOMETRY)
    assert images.shape == (4, 24, 24) and images.dtype == np.float32 and len(TEST) == 4
    assert labels == ("overlapping-ellipses",) * 2 + ("anatomy",) * 2
    np.testing.assert_array_equal(images, TEST.images(GEOMETRY)[0])
    for j, (name, i) in enumerate([("overlapping-ellipses", 0), ("overlapping-ellipses", 1), ("anatomy", 0),
                                   ("anatomy", 1)]):
        np.testing.assert_array_equal(images[j], PhantomSource(name, GEOMETRY, 1, 0)(i))
    other = ImageSet(blocks=TEST.blocks, seed=2).images(GEOMETRY)[0]
    assert not np.array_equal(other[0], images[0]) and np.array_equal(other[2:], images[2:])  # crops are fixed


def test_an_image_set_seeds_the_noise_of_each_image_by_its_index_in_the_set():
    images, _ = TEST.images(GEOMETRY)
    A = recon.RayTransform(GEOMETRY)
    sinograms = TEST.sinograms(images, A, 1024)
    assert sinograms.shape == (4, 12, 35) and sinograms.dtype == np.float32
    np.testing.assert_array_equal(sinograms, TEST.sinograms(images, A, 1024))
    alone = simulate_images(images[3:], A, Simulation(photons=1024, seed=1), [3])
    np.testing.assert_array_equal(sinograms[3:], alone)


def test_the_standard_sets_cover_every_anatomy_crop_once():
    assert len(TEST_IMAGES) == 49 and dict(TEST_IMAGES.blocks)["anatomy"] == 25 and TEST_IMAGES.seed == 100
    assert dict(VALIDATION_IMAGES.blocks) == {"pelvis": 12, "polygons": 12} and VALIDATION_IMAGES.seed == 200
    assert TV_GRID.ls[0] == 1.25e-5 and TV_GRID.ls[-1] == 8e-4 and TV_GRID.wls == (2.5e-7, 5e-7, 1e-6, 2e-6, 4e-6,
                                                                                    8e-6, 1.6e-5)


@pytest.mark.parametrize("blocks, message", [((), "at least one"), ((("pelvis", 0),), "positive number"),
                                             ((("pelvis", 2), ("pelvis", 1)), "more than once"),
                                             ((("lungs", 2),), "expected one of")])
def test_bad_image_sets_are_refused(blocks, message):
    with pytest.raises(ValueError, match=message):
        ImageSet(blocks=blocks, seed=0)


# protocol validation ------------------------------------------------------------------------------------------------

def test_a_protocol_takes_test_families_only_for_testing_and_validation_families_for_validating():
    with pytest.raises(ValueError, match=r"test images.*'pelvis \(validation\)'"):
        tiny_protocol(["fbp"], test=ImageSet(blocks=(("pelvis", 2),), seed=1))
    with pytest.raises(ValueError, match=r"validation images.*'forbild \(test\)'"):
        tiny_protocol(["fbp"], validation=ImageSet(blocks=(("forbild", 1),), seed=1))
    with pytest.raises(ValueError, match=r"test images.*'mixed \(training\)'"):
        tiny_protocol(["fbp"], test=ImageSet(blocks=(("mixed", 2),), seed=1))


@pytest.mark.parametrize("target, message", [
    (Target(method="lpd", rival="fbp", psnr_margin=1), "expected a method of"),
    (Target(method="fbp", rival="tv", psnr_margin=1), "expected a rival"),
    (Target(method="fbp", rival=TV_ORACLE, psnr_margin=1, group="forbild"), "group 'all' or a test family"),
    (Target(method="fbp", rival=TV_ORACLE, psnr_margin=1, photons=(1024,)), "expected doses among"),
])
def test_targets_must_name_what_the_protocol_has(target, message):
    with pytest.raises(ValueError, match=message):
        tiny_protocol(["fbp"], targets=[target])


def test_bad_protocol_values_are_refused():
    with pytest.raises(ValueError, match="distinct positive photon"):
        tiny_protocol(["fbp"], photons=(4096, 4096))
    with pytest.raises(ValueError, match="distinct method specs"):
        tiny_protocol(["fbp", "fbp"])
    with pytest.raises(ValueError, match="protocol name"):
        tiny_protocol(["fbp"], name="low dose")
    with pytest.raises(ValueError, match="TV grid"):
        TvGrid(ls=(1e-4, -1.0))


# refusal ------------------------------------------------------------------------------------------------------------

def test_a_model_trained_on_a_test_family_is_refused_in_one_line(tmp_path):
    path = checkpoint(tmp_path / "forbild.safetensors", families={"training": ["forbild"], "validation": []})
    with pytest.raises(ValueError) as error:
        refuse_test_families(["fbp", path], TEST_IMAGES.families, "low_dose")
    message = str(error.value)
    assert "\n" not in message and path in message and "trained on the test family 'forbild'" in message


def test_a_model_validated_on_a_test_family_is_refused(tmp_path):
    path = checkpoint(tmp_path / "anatomy.safetensors", families={"training": ["mixed"], "validation": ["anatomy"]})
    with pytest.raises(ValueError, match=f"{path} was validated on the test family 'anatomy'"):
        refuse_test_families([path], TEST_IMAGES.families, "low_dose")


def test_a_model_trained_on_mixed_passes_with_its_record(mixed_model, tmp_path):
    records = refuse_test_families(["fbp", mixed_model, "tv"], TEST_IMAGES.families, "low_dose")
    assert list(records) == [mixed_model]
    record = records[mixed_model]
    assert record.training == ("mixed",) and record.validation == ("pelvis",) and record.dose() == "4096 photons"
    old = checkpoint(tmp_path / "old.safetensors", physics={"phantom": "forbild", "photons": 1024,
                                                             "photons_max": 16384})
    assert model_record(old).validation is None and model_record(old).dose() == "1024 to 16384 photons"
    with pytest.raises(ValueError, match="trained on the test family 'forbild'"):  # read from physics["phantom"]
        refuse_test_families([old], TEST_IMAGES.families, "low_dose")


def test_the_refusal_comes_before_any_work(tmp_path, monkeypatch):
    path = checkpoint(tmp_path / "a.safetensors", families={"training": ["mixed"], "validation": ["anatomy"]})

    def no_work(*args, **kwargs):
        raise AssertionError("the protocol started working")

    monkeypatch.setattr(tv_rows, "select_parameter", no_work)
    with pytest.raises(ValueError, match="validated on the test family 'anatomy'"):
        run_protocol(tiny_protocol(["fbp", path]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# bootstrap ----------------------------------------------------------------------------------------------------------

def test_the_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    values = np.random.default_rng(0).normal(0.5, 1.0, size=30)
    ours = bootstrap_interval(values, Bootstrap(resamples=20_000, seed=1))
    theirs = scipy.stats.bootstrap((values,), np.mean, n_resamples=20_000, method="percentile",
                                   confidence_level=0.95, random_state=2).confidence_interval
    assert ours.mean == pytest.approx(values.mean())
    assert ours.low == pytest.approx(theirs.low, abs=0.02) and ours.high == pytest.approx(theirs.high, abs=0.02)


def test_the_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(5)
    settings = Bootstrap(resamples=1000, seed=3)
    covered = [bootstrap_interval(rng.normal(2.0, 3.0, size=25), settings) for _ in range(300)]
    coverage = np.mean([interval.low <= 2.0 <= interval.high for interval in covered])
    assert 0.89 <= coverage <= 0.99


def test_the_bootstrap_is_deterministic_and_gives_verdicts():
    values = np.random.default_rng(1).normal(size=12)
    settings = Bootstrap(resamples=500, seed=7)
    assert bootstrap_interval(values, settings) == bootstrap_interval(values, settings)
    assert bootstrap_interval(values, settings) != bootstrap_interval(values, Bootstrap(resamples=500, seed=8))
    assert bootstrap_interval([0.3], settings) == Interval(mean=0.3, low=0.3, high=0.3)
    assert [Interval(mean=1, low=0.1, high=2).verdict, Interval(mean=0, low=-1, high=1).verdict,
            Interval(mean=-1, low=-2, high=-0.1).verdict] == ["better", "tie", "worse"]
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, float("nan")], settings)
    with pytest.raises(ValueError, match="at least 100"):
        Bootstrap(resamples=10)


# targets ------------------------------------------------------------------------------------------------------------

def result(name, psnrs, ssims, groups):
    rows = [{"index": i, "group": g, "psnr": p, "ssim": s} for i, (p, s, g) in enumerate(zip(psnrs, ssims, groups))]
    return MethodResult(data=None, method=name, rows=rows, examples=np.zeros((0, 1, 1)), reused=False)


def test_targets_are_met_by_the_mean_margin_and_the_ssim_condition():
    groups = ["a", "a", "b", "b"]
    learned = result("learned", [30.0, 31.0, 25.0, 26.0], [0.90, 0.91, 0.80, 0.80], groups)
    rival = result("rival", [28.0, 29.0, 25.5, 25.5], [0.91, 0.92, 0.79, 0.79], groups)
    settings = Bootstrap(resamples=200)

    def met(**target):
        return check_target(Target(method="learned", rival="rival", **target), learned, rival, settings)

    assert met(psnr_margin=1.0)["met"] and met(psnr_margin=1.0)["psnr"]["mean"] == pytest.approx(1.0)
    assert not met(psnr_margin=1.01)["met"]
    assert not met(psnr_margin=1.0, ssim_higher=True)["met"]  # the SSIM is lower overall
    by_group = met(psnr_margin=2.0, group="a", ssim_higher=True)
    assert by_group["n"] == 2 and by_group["psnr"]["mean"] == pytest.approx(2.0) and not by_group["met"]
    assert met(psnr_margin=0.0, group="b", ssim_higher=True)["met"]
    row = paired_comparison(learned, rival, "all", settings)
    assert row["psnr"]["verdict"] in ("better", "tie") and set(row) == {"group", "n", "psnr", "ssim"}
    with pytest.raises(ValueError, match="group"):
        paired_comparison(learned, rival, "c", settings)


# end to end ---------------------------------------------------------------------------------------------------------

def test_the_oracle_is_chosen_on_the_test_images_and_the_tuned_tv_on_validation(mixed_model, tmp_path, monkeypatch):
    seen = []

    def recording(reconstructor, y, truth, **kwargs):
        seen.append((reconstructor.params["data_term"], truth.clone()))
        return real(reconstructor, y, truth, **kwargs)

    real = tv_rows.select_parameter
    monkeypatch.setattr(tv_rows, "select_parameter", recording)
    protocol = tiny_protocol(["fbp", mixed_model], targets=[
        Target(method=mixed_model, rival=TV_ORACLE, psnr_margin=-100.0),
        Target(method=mixed_model, rival="fbp", psnr_margin=1.0, group="anatomy")])
    outcome = run_protocol(protocol, tmp_path / "out")
    validation_images = torch.from_numpy(VALIDATION.images(GEOMETRY)[0])[:, None]
    test_images = torch.from_numpy(TEST.images(GEOMETRY)[0])[:, None]
    assert [term for term, _ in seen] == ["ls", "wls", "ls", "wls"]
    assert all(torch.equal(truth, validation_images) for _, truth in seen[:2])
    assert all(torch.equal(truth, test_images) for _, truth in seen[2:])
    dose = outcome.doses[0]
    summary = {e["method"]: e for e in json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]
               if e["group"] == "all"}
    oracle, tuned = summary[dose.rivals[TV_ORACLE]], summary[dose.rivals[TV_VALIDATED]]
    assert oracle["psnr"]["mean"] == pytest.approx(dose.searches["oracle"].psnr, abs=1e-3)
    assert oracle["psnr"]["mean"] >= tuned["psnr"]["mean"] - 1e-3  # nothing beats the grid's best on test
    assert dose.rivals[TV_ORACLE].startswith("TV oracle (") and "TV (default)" in summary
    # every learned x classical pair, overall and per family
    pairs = {(row["classical"], row["group"]) for row in dose.comparisons}
    assert pairs == {(label, group) for label in dose.rivals.values()
                     for group in ("all", "overlapping-ellipses", "anatomy")}
    assert [row["met"] for row in dose.targets] == [True, False]  # an untrained LPD returns its FBP start
    for name in ("section.md", "targets.md", "comparisons.md", "comparisons.json", "targets.json", "models.json",
                 "tv_search.json", "results.csv", "summary.md", "examples.png"):
        assert (tmp_path / "out" / name).is_file(), name
    searches = json.loads((tmp_path / "out" / "tv_search.json").read_text())
    assert len(searches["oracle"]["table"]) == 3 and searches["images"]["validation"] == VALIDATION.describe()
    section = (tmp_path / "out" / "section.md").read_text()
    assert section.startswith("## Tiny protocol") and "![examples](examples.png)" in section
    assert "| mixed | pelvis | 4096 photons |" in section and "TV oracle" in section and "NOT met" in section
    assert json.loads((tmp_path / "out" / "comparisons.json").read_text())["rows"] == dose.comparisons


def test_a_rerun_reuses_the_tv_searches_of_the_same_grid_and_images(tmp_path, monkeypatch):
    protocol = tiny_protocol(["fbp"])
    first = run_protocol(protocol, tmp_path)
    monkeypatch.setattr("recon.benchmark.protocol_run.search_tv", lambda *args: pytest.fail("searched again"))
    again = run_protocol(protocol, tmp_path)
    assert again.doses[0].searches == first.doses[0].searches
    monkeypatch.undo()
    wider = dataclasses.replace(protocol, tv_grid=dataclasses.replace(protocol.tv_grid, iterations=3))
    assert run_protocol(wider, tmp_path).doses[0].searches["oracle"].table != first.doses[0].searches["oracle"].table


def test_several_doses_get_a_folder_each(tmp_path):
    outcome = run_protocol(tiny_protocol(["fbp"], photons=(4096, 1024), test=ImageSet(blocks=(("forbild", 1),),
                                                                                       seed=1)), tmp_path)
    assert [dose.folder.name for dose in outcome.doses] == ["photons-4096", "photons-1024"]
    assert (tmp_path / "photons-1024" / "summary.json").is_file() and not outcome.doses[0].comparisons
    assert "![examples](photons-1024/examples.png)" in (tmp_path / "section.md").read_text()


def test_comparison_tables_name_the_confidence():
    row = {"learned": "a", "classical": "b", "group": "all", "n": 3,
           "psnr": {"mean": 1.0, "low": 0.5, "high": 1.5, "verdict": "better"},
           "ssim": {"mean": 0.0, "low": -0.01, "high": 0.01, "verdict": "tie"}}
    table = comparison.comparisons_markdown([row], 0.95)
    assert "[95 % CI]" in table and "| a | b | all | 3 | +1.00 [+0.50, +1.50] | better |" in table


def test_a_single_string_where_a_sequence_belongs_is_refused():
    with pytest.raises(ValueError, match="expected a sequence of methods, got one str: 'fbp'"):
        tiny_protocol("fbp")
    assert tiny_protocol(["fbp"], photons="1024").photons == (1024.0,)
