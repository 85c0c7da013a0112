"""Method specs: parsing, classical methods, ODL's fbp_op, checkpoints and bad input."""

from __future__ import annotations

import pytest
import torch

import recon
from recon.algorithms import fbp, tv
from recon.benchmark.methods import build_method, parse_spec
from recon.metrics import psnr
from tests.benchmark.conftest import GEOMETRY


def sinograms(levels):
    return torch.stack([levels[0].samples[i][0] for i in range(len(levels[0]))])


def test_parse_spec_types_values():
    assert parse_spec("tv:weight=0.05, iterations=30,nonnegativity=false,data_term=ls") == (
        "tv", {"weight": 0.05, "iterations": 30, "nonnegativity": False, "data_term": "ls"})
    assert parse_spec("fbp") == ("fbp", {})


@pytest.mark.parametrize("spec", ["", ":iterations=3", "sirt:iterations"])
def test_malformed_specs_are_refused(spec):
    with pytest.raises(ValueError, match="method"):
        parse_spec(spec)


def test_classical_specs_run_the_algorithm_with_their_parameters(tiny_levels):
    y = sinograms(tiny_levels)
    A = recon.RayTransform(GEOMETRY)
    method = build_method("fbp:filter=cosine,frequency_scaling=0.8", GEOMETRY)
    assert method.name == "fbp:filter=cosine,frequency_scaling=0.8"
    torch.testing.assert_close(method.reconstruct(y), fbp(y, A, filter="cosine", frequency_scaling=0.8))
    torch.testing.assert_close(build_method("tv:iterations=5", GEOMETRY).reconstruct(y), tv(y, A, iterations=5))


def test_odl_fbp_peer_agrees_with_recon_fbp(tiny_levels):
    y = sinograms(tiny_levels)
    ours = build_method("fbp", GEOMETRY).reconstruct(y)
    peer = build_method("odl-fbp", GEOMETRY).reconstruct(y)
    assert peer.shape == ours.shape == (5, 1, 17, 11)
    # Same filter and geometry: equal up to ODL's small constant offset.
    assert float(psnr(peer, ours).min()) > 30


@pytest.mark.parametrize("spec, message", [
    ("fbpp", "unknown method 'fbpp'"),
    ("sirt:iteration=3", "unknown"),
    ("odl-fbp:iterations=3", "odl-fbp takes"),
    ("no/such/model.safetensors", "unknown method"),
])
def test_unknown_methods_and_parameters_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        build_method(spec, GEOMETRY)


def test_checkpoints_load_on_their_geometry_and_are_refused_on_another(tmp_path, tiny_levels):
    from recon.models import build_model
    from recon.training.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model("dncnn", geometry=GEOMETRY, depth=2, channels=4).eval()
    path = save_model(model, tmp_path / "dncnn:v1,best.safetensors")  # not a spec with parameters
    method = build_method(str(path), GEOMETRY)
    y = sinograms(tiny_levels)
    with torch.no_grad():
        torch.testing.assert_close(method.reconstruct(y), model(y))
    assert str(path.resolve()) in method.key
    other = recon.Geometry.parallel(image_size=(17, 11), num_angles=9, num_detectors=23)
    with pytest.raises(ValueError, match="trained on a parallel 17x11 image, 7 angles.*data are a.*9 angles"):
        build_method(str(path), other)
    with pytest.raises(ValueError, match="classical methods only"):
        build_method("lpd-small:iterations=3", GEOMETRY)
