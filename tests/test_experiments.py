"""The experiment protocols and experiments/regenerate.py, end to end at a tiny size."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from recon.algorithms import METHODS
from recon.benchmark.methods import learned_model_spec, parse_spec
from recon.benchmark.peers import PEERS
from recon.benchmark.protocol import PRESET, TEST_IMAGES, TV_GRID, TV_ORACLE, VALIDATION_IMAGES, Protocol
from recon.data.families import FAMILIES
from recon.training import checkpoint
from recon.training.checkpoint import shipped_models

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
NAMES = ("dose_range", "low_dose", "sparse_view")


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", EXPERIMENTS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def protocol(name: str) -> Protocol:
    return _regenerate().load_protocol(EXPERIMENTS / "protocols", name)


def test_the_three_protocols_are_python_files():
    assert tuple(_regenerate().protocol_names(EXPERIMENTS / "protocols")) == NAMES
    assert not list((EXPERIMENTS / "protocols").glob("*.yaml"))


@pytest.mark.parametrize("name", NAMES)
def test_every_protocol_tests_on_test_families_validates_on_validation_families_and_names_known_methods(name):
    loaded = protocol(name)
    assert {FAMILIES[family].role for family in loaded.test.families} == {"test"}
    assert {FAMILIES[family].role for family in loaded.validation.families} == {"validation"}
    assert (loaded.test, loaded.validation, loaded.tv_grid) == (TEST_IMAGES, VALIDATION_IMAGES, TV_GRID)
    for spec in loaded.methods:
        model = learned_model_spec(spec)
        known = model in shipped_models() if model else parse_spec(spec)[0] in (*METHODS, *PEERS)
        assert known, spec


def test_the_low_dose_targets():
    loaded = protocol("low_dose")
    assert loaded.photons == (4096,) and loaded.geometry == PRESET
    targets = {(t.method, t.rival, t.group): (t.psnr_margin, t.ssim_higher) for t in loaded.targets}
    assert targets == {("lpd-small", TV_ORACLE, "all"): (1.5, True), ("lpd-small", TV_ORACLE, "anatomy"): (1.0, False),
                       ("lgd-small", TV_ORACLE, "all"): (0.0, False), ("fbpconvnet-small", TV_ORACLE, "all"): (0.0, False),
                       ("redcnn-small", TV_ORACLE, "all"): (0.0, False), ("lpd-small", "fbp", "all"): (5.0, False),
                       ("adapt:lpd-small", "lpd-small", "anatomy"): (0.5, False),
                       ("n2i-small", "fbp", "all"): (3.0, False), ("n2i-small", "fbpconvnet-small", "all"): (-1.5, False)}


def test_the_dose_range_checks_lpd_against_the_oracle_at_each_dose():
    loaded = protocol("dose_range")
    assert loaded.photons == (1024, 16384) and loaded.methods == ("fbp", "lpd-small")
    assert [loaded.targets_at(dose)[0].describe() for dose in loaded.photons] == [
        "lpd-small ≥ tv-oracle +1 dB (all), higher SSIM"] * 2


def test_the_sparse_view_protocol_takes_its_model_once_it_is_shipped(monkeypatch):
    loaded = protocol("sparse_view")
    assert len(loaded.geometry.angles) == 60 and loaded.geometry == PRESET.angle_subset(6)
    if "lpd-sparse-small" not in shipped_models():
        assert "lpd-sparse-small" not in loaded.methods and not loaded.targets
        assert "lpd-sparse-small" in loaded.notes[0] and "not shipped" in loaded.notes[0]
    monkeypatch.setattr(checkpoint, "shipped_models", lambda: ["lpd-sparse-small"])
    shipped = protocol("sparse_view")
    assert shipped.methods[-1] == "lpd-sparse-small" and not shipped.notes
    assert [(t.method, t.rival, t.psnr_margin) for t in shipped.targets] == [("lpd-sparse-small", TV_ORACLE, 2.0)]


def test_a_protocol_file_must_define_its_protocol(tmp_path):
    (tmp_path / "other.py").write_text("PROTOCOL = None\n")
    with pytest.raises(SystemExit, match="expected PROTOCOL = Protocol"):
        _regenerate().load_protocol(tmp_path, "other")


def test_links_of_a_section_are_rebased_into_its_folder():
    text = "![examples](photons-4096/examples.png) [a](https://x.org) [b](#top) `x`"
    assert _regenerate().rebase_links(text, "low_dose") == (
        "![examples](low_dose/photons-4096/examples.png) [a](https://x.org) [b](#top) `x`")


TINY = '''
import recon
from recon.benchmark import Bootstrap, ImageSet, Protocol, Target, TvGrid

PROTOCOL = Protocol(
    name="tiny", description="Tiny", photons=4096, methods=("fbp", {model!r}),
    geometry=recon.Geometry.parallel(image_size=24, num_angles=12, num_detectors=35),
    test=ImageSet(blocks=(("shepp-logan", 1), ("anatomy", 2)), seed=1),
    validation=ImageSet(blocks=(("polygons", 2),), seed=2),
    tv_grid=TvGrid(ls=(1e-4, 4e-4), iterations=5), bootstrap=Bootstrap(resamples=200),
    targets=(Target(method={model!r}, rival="tv-oracle", psnr_margin=0.0),),
)
'''


def test_regenerate_runs_a_tiny_protocol_and_writes_the_results_page(tmp_path, monkeypatch):
    from recon.models import build_model
    from recon.training.checkpoint import save_model
    from tests.benchmark.test_protocol import GEOMETRY

    model = save_model(build_model("lpd", geometry=GEOMETRY, iterations=2, hidden_channels=6,
                                   dual_hidden_channels=4), tmp_path / "tiny.safetensors",
                       extra_metadata={"families": {"training": ["mixed"], "validation": ["polygons"]}})
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "tiny.py").write_text(TINY.format(model=str(model)))
    regenerate = _regenerate()
    monkeypatch.setattr(regenerate, "PROTOCOLS", protocols)
    monkeypatch.setattr(regenerate, "RESULTS", tmp_path / "results")
    with pytest.raises(SystemExit):
        regenerate.main(["nonexistent"])
    assert regenerate.main(["tiny"]) == 0
    page = (tmp_path / "results" / "README.md").read_text()
    assert page.index("\n## Shipped models") < page.index("\n## Generalisation") < page.index("\n## Tiny")
    assert "| lpd-small | psnr | mixed-grain |" in page and "### Tiny: 4096 photons per bin" in page
    generalisation = page[page.index("\n## Generalisation"):page.index("\n## Tiny")]
    assert f"| {model} | TV oracle (ls, " in generalisation and "| anatomy | 2 |" in generalisation
    assert "| shepp-logan | 1 |" in generalisation and "| fbp |" not in generalisation
    assert "![examples](tiny/examples.png)" in page and (tmp_path / "results" / "tiny" / "examples.png").is_file()


def test_tv_defaults_are_the_rule_fitted_on_validation_images():
    """recon's TV defaults are what experiments/tv_weight_rule.py last fitted (its rule.json), not typed in."""
    from recon.algorithms.tv import REFERENCE_ANGLES, WEIGHT_RULES, WLS_BELOW_PHOTONS

    fitted = json.loads((EXPERIMENTS / "results" / "tv_weight_rule" / "rule.json").read_text())
    assert WLS_BELOW_PHOTONS == fitted["wls_below_photons"]
    assert WEIGHT_RULES == {term: (rule["weight_at_4096"], rule["exponent"], rule["angle_exponent"])
                            for term, rule in fitted["rules"].items()}
    assert REFERENCE_ANGLES == fitted["reference_angles"]
    assert set(fitted["images"].split(" (")[0].replace(",", "").split()[::2]) == set(VALIDATION_IMAGES.families)


def test_the_shipped_table_scores_a_self_supervised_model_by_its_validation_loss():
    regenerate = _regenerate()
    assert regenerate.best_validation_score({"psnr": 33.123, "ssim": 0.91234}) == "PSNR / SSIM 33.12 / 0.9123"
    assert regenerate.best_validation_score({"loss": 0.00123456}) == "loss 0.001235"
