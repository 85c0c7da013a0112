"""Test-time adaptation: a copy fine-tuned on the sinograms it reconstructs, as a function and as a method spec."""

from __future__ import annotations

import pytest
import torch

import recon
from recon.benchmark.methods import build_method, is_checkpoint, learned_model_spec, split_adaptation
from recon.benchmark.provenance import refuse_test_families
from recon.models import build_model
from recon.training.adaptation import adapt
from recon.training.checkpoint import save_model
from tests.training.test_self_supervised_losses import noisy_batch

GEOMETRY = recon.Geometry.parallel(image_size=16, num_angles=12, num_detectors=23)


@pytest.fixture
def sinograms():
    return noisy_batch(GEOMETRY, 4, photons=1000.0)[2].float()


def small_model(name: str = "lpd"):
    torch.manual_seed(0)
    if name == "lpd":
        return build_model("lpd", geometry=GEOMETRY, iterations=2, hidden_channels=4).eval()
    return build_model("fbpconvnet", geometry=GEOMETRY, scales=2, channels=4).eval()


@pytest.mark.parametrize(("name", "loss"), [("lpd", "sure"), ("fbpconvnet", "noise2inverse")])
def test_adapt_lowers_its_loss_leaves_the_model_alone_and_is_seeded(sinograms, name, loss):
    from recon.training.adaptation import adaptation_loss

    model = small_model(name)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    options = {"subsets": 3} if loss == "noise2inverse" else {}
    adapted = adapt(model, sinograms, steps=30, learning_rate=1e-3, **options)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert adapted.operator is model.operator and not adapted.training
    measure = adaptation_loss(model, options)
    assert type(measure).__name__ == {"sure": "SureLoss", "noise2inverse": "Noise2Inverse"}[loss]
    with torch.no_grad():
        start = float(measure(model, sinograms, torch.Generator().manual_seed(9)))
        end = float(measure(adapted, sinograms, torch.Generator().manual_seed(9)))
    assert end < start
    again = adapt(model, sinograms, steps=30, learning_rate=1e-3, **options)
    with torch.no_grad():
        assert torch.equal(adapted(sinograms), again(sinograms))


def test_the_adapt_spec_reconstructs_after_fine_tuning_and_refuses_bad_parameters(tmp_path, sinograms):
    model = small_model()
    path = save_model(model, tmp_path / "lpd.safetensors")
    spec = f"adapt:{path}:steps=5,learning_rate=1e-3"
    assert split_adaptation(spec) == (str(path), {"steps": 5, "learning_rate": 1e-3})
    assert not is_checkpoint(spec) and learned_model_spec(spec) == str(path)
    method = build_method(spec, GEOMETRY)
    expected = adapt(model, sinograms, steps=5, learning_rate=1e-3)
    with torch.no_grad():
        torch.testing.assert_close(method.reconstruct(sinograms), expected(sinograms))
    assert "adapt:" in method.key and str(path.resolve()) in method.key
    unadapted = build_method(f"adapt:{path}:steps=0", GEOMETRY)
    with torch.no_grad():
        torch.testing.assert_close(unadapted.reconstruct(sinograms), model(sinograms))
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['step'\]; expected some of \['steps'"):
        build_method(f"adapt:{path}:step=5", GEOMETRY)
    with pytest.raises(ValueError, match="steps: expected an integer >= 0, got -1"):
        build_method(f"adapt:{path}:steps=-1", GEOMETRY)
    with pytest.raises(ValueError, match="noise2inverse trains a post-processing model"):
        build_method(f"adapt:{path}:loss=noise2inverse", GEOMETRY)
    with pytest.raises(ValueError, match="got no model"):
        build_method("adapt::steps=5", GEOMETRY)


def test_a_protocol_refuses_the_adaptation_of_a_model_that_saw_a_test_family():
    records = refuse_test_families(["fbp", "adapt:lpd-small:steps=10"], ["overlapping-ellipses"], "demo")
    assert list(records) == ["adapt:lpd-small:steps=10"]
    trained_on = records["adapt:lpd-small:steps=10"].training[0]
    with pytest.raises(ValueError, match="adapt:lpd-small:steps=10 was trained on the test family"):
        refuse_test_families(["adapt:lpd-small:steps=10"], [trained_on], "demo")


def test_recon_reconstruct_and_benchmark_run_an_adapted_model(tmp_path):
    import h5py

    from recon.cli import main

    path = save_model(small_model(), tmp_path / "lpd.safetensors")
    size = ["--image-size", "16", "--num-angles", "12", "--num-detectors", "23", "--factor", "2", "--quiet"]
    assert main(["simulate", str(tmp_path / "scans"), *size, "--samples", "3", "--splits", "0,0,1", "--no-images"]) == 0
    spec = f"adapt:{path}:steps=3"
    assert main(["reconstruct", str(tmp_path / "scans" / "test.h5"), "--method", spec,
                 "--output", str(tmp_path / "out.h5"), "--quiet"]) == 0
    with h5py.File(tmp_path / "out.h5") as h5:
        assert h5["images"].shape == (3, 16, 16)
    assert main(["benchmark", "--methods", "fbp", spec, "--samples", "2", *size[:6], "--output",
                 str(tmp_path / "bench"), "--quiet"]) == 0
    assert spec in (tmp_path / "bench" / "summary.md").read_text()
