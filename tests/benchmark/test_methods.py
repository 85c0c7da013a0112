"""Method specs: parsing, classical methods, the ODL and deepinv peers, checkpoints and bad input."""

from __future__ import annotations

import sys
import types

import pytest
import torch

import recon
from recon.algorithms import fbp, tv
from recon.benchmark.methods import build_method, default_methods, parse_spec
from recon.data.phantoms import shepp_logan
from recon.interop import import_deepinv
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


def test_deepinv_fbp_peer_agrees_with_recon_fbp_in_physical_units():
    try:  # like pytest.importorskip, but also skips an install that fails to import (RuntimeError ...)
        import_deepinv()
    except ImportError as error:
        pytest.skip(str(error))
    geometry = recon.Geometry.parallel(image_size=32, num_angles=30, num_detectors=47)
    A = recon.RayTransform(geometry)
    x = torch.from_numpy(shepp_logan(32))[None, None].repeat(2, 1, 1, 1)
    x[1, 0, 4:10, 20:24] += 0.3  # off-centre, to catch flips and transpositions
    y = A(x)
    ours = fbp(y, A, filter="ram-lak", frequency_scaling=1.0)  # deepinv's FBP has a plain ramp
    peer = build_method("deepinv-fbp", geometry).reconstruct(y)
    assert peer.shape == ours.shape == (2, 1, 32, 32)
    assert float(psnr(peer, ours).min()) > 30
    assert float(psnr(peer, ours.transpose(-1, -2))[1]) < 25 and float(psnr(peer, ours.flip(-1))[1]) < 25
    torch.testing.assert_close(peer.mean(dim=(2, 3)), ours.mean(dim=(2, 3)), rtol=0.02, atol=0)


def test_deepinv_fbp_refuses_geometries_deepinv_cannot_represent():
    with pytest.raises(ValueError, match="deepinv-fbp: expected a parallel beam on a square grid.*17x11"):
        build_method("deepinv-fbp", GEOMETRY)
    fan = recon.Geometry.fan(image_size=16, num_angles=7, num_detectors=23)
    with pytest.raises(ValueError, match="got a fan 16x16 image"):
        build_method("deepinv-fbp", fan)


def test_default_methods_include_deepinv_fbp_only_where_deepinv_imports(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepinv", None)
    assert default_methods() == ["fbp", "tv", "odl-fbp"]
    with pytest.raises(ValueError, match=r'^deepinv-fbp: DeepInverse is not installed here: pip install -e "\.\[deepinv\]"'):
        build_method("deepinv-fbp", recon.Geometry.parallel(image_size=16, num_angles=7, num_detectors=23))
    monkeypatch.setitem(sys.modules, "deepinv", types.ModuleType("deepinv"))
    assert default_methods() == ["fbp", "tv", "odl-fbp", "deepinv-fbp"]


@pytest.mark.parametrize("spec, message", [
    ("fbpp", "unknown method 'fbpp'"),
    ("sirt:iteration=3", "unknown"),
    ("odl-fbp:iterations=3", "odl-fbp takes"),
    ("deepinv-fbp:filter=hann", "deepinv-fbp takes no parameters"),
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
