"""Every registered model: shapes, gradients, recorded configuration, registry errors."""

from __future__ import annotations

import json

import pytest
import torch

import recon
from recon.algorithms.fbp import fbp
from recon.models import MODELS, LearnedReconstructor, build_model, register_model

GEOMETRY = recon.Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)
#: Small versions of every model; a new model must be added here to be tested.
SMALL = {
    "fbpconvnet": {"scales": 3, "channels": 4},
    "redcnn": {"channels": 6},
    "dncnn": {"depth": 4, "channels": 6},
    "lgd": {"iterations": 2, "memory": 2, "hidden_channels": 6},
    "lpd": {"iterations": 2, "hidden_channels": 6, "dual_hidden_channels": 4},
}


def sinograms(batch: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand((batch, 1, *GEOMETRY.sinogram_shape), generator=torch.Generator().manual_seed(seed))


def small(name: str, **extra) -> LearnedReconstructor:
    torch.manual_seed(0)
    return build_model(name, geometry=GEOMETRY, **SMALL[name], **extra)


def test_every_registered_model_is_tested():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_shape_and_gradient_flow(name):
    # Unrolled updates start at zero by default, which stops gradients before the last layer
    # on the first step; with random last layers every weight must receive a gradient.
    model = small(name, **({"zero_init_updates": False} if name in ("lgd", "lpd") else {}))
    y = sinograms().requires_grad_()
    x = model(y)
    assert x.shape == (3, 1, *GEOMETRY.image_shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    x.square().sum().backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, key
    assert y.grad.abs().sum() > 0  # through the FBP / ray transform back to the data


@pytest.mark.parametrize("name", sorted(SMALL))
def test_config_is_json_and_rebuilds_the_model(name):
    model = small(name).eval()
    config = json.loads(json.dumps(model.config))
    assert recon.Geometry.from_dict(config["geometry"]) == GEOMETRY
    assert {"fbp_filter", "frequency_scaling", "cpu_backend", "cuda_backend"} <= set(config)
    assert all(config[key] == value for key, value in SMALL[name].items())
    rebuilt = build_model(name, **config).eval()
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    y = sinograms()
    torch.testing.assert_close(rebuilt(y), model(y), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["lgd", "lpd"])
def test_unrolled_zero_initialization(name):
    model = small(name, initialization="zero")
    assert model(sinograms()).shape == (3, 1, *GEOMETRY.image_shape)
    with pytest.raises(ValueError, match="initialization"):
        small(name, initialization="sirt")


@pytest.mark.parametrize("name", ["lgd", "lpd"])
def test_untrained_unrolled_network_returns_its_fbp_start(name):
    model = small(name)
    y = sinograms()
    x = model(y)
    torch.testing.assert_close(x, fbp(y, model.operator, filter="hann", frequency_scaling=0.641))
    x.square().sum().backward()
    updates = model.updates if name == "lgd" else model.primal_updates
    assert updates[-1][-1].weight.grad.abs().sum() > 0  # the first step moves the last layers


def test_learned_primal_dual_defaults_follow_the_paper():
    model = build_model("lpd", geometry=GEOMETRY)
    assert len(model.primal_updates) == len(model.dual_updates) == 10
    assert (model.primal_channels, model.dual_channels) == (5, 5)
    convolutions = [m for m in model.primal_updates[0] if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convolutions] == [(3, 3)] * 3
    assert convolutions[0].in_channels == 6 and convolutions[-1].out_channels == 5
    dual_convolutions = [m for m in model.dual_updates[0] if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convolutions] == [c.out_channels for c in dual_convolutions] == [32, 32, 5]


def test_learned_primal_dual_dual_width_is_its_own():
    model = small("lpd")
    widths = {name: [m.out_channels for m in updates[0] if isinstance(m, torch.nn.Conv2d)]
              for name, updates in (("primal", model.primal_updates), ("dual", model.dual_updates))}
    assert widths == {"primal": [6, 6, 5], "dual": [4, 4, 5]}
    with pytest.raises(ValueError, match="dual_hidden_channels: expected a positive integer, got 0"):
        build_model("lpd", geometry=GEOMETRY, dual_hidden_channels=0)


def test_fbpconvnet_is_residual_on_the_fbp():
    model = small("fbpconvnet").eval()
    torch.nn.init.zeros_(model.unet.head.weight)
    torch.nn.init.zeros_(model.unet.head.bias)
    y = sinograms()
    torch.testing.assert_close(model(y), fbp(y, model.operator, filter="hann", frequency_scaling=0.641))


def test_operator_is_scaled_by_its_norm_and_the_norm_is_stored(monkeypatch):
    model = small("lpd")
    x = torch.rand((2, 1, *GEOMETRY.image_shape))
    norm = model.operator.norm()
    torch.testing.assert_close(model.project(x), model.operator(x) / norm)
    assert float(model.state_dict()["operator_norm"]) == pytest.approx(norm)
    fresh = build_model("lpd", **model.config)
    fresh.load_state_dict(model.state_dict())
    monkeypatch.setattr(type(fresh.operator), "norm", lambda *a, **k: pytest.fail("norm recomputed"))
    assert fresh.scale() == pytest.approx(norm)


def test_wrong_sinogram_shape_is_a_clear_error():
    model = small("dncnn")
    with pytest.raises(ValueError, match=r"\(B, C, 7, 23\)"):
        model(torch.zeros(2, 1, 7, 22))
    with pytest.raises(ValueError, match="one channel"):
        model(torch.zeros(2, 2, 7, 23))


def test_registry_errors():
    with pytest.raises(ValueError, match="expected one of"):
        build_model("unet3000", geometry=GEOMETRY)
    with pytest.raises(TypeError, match="geometry"):
        build_model("lpd")
    with pytest.raises(ValueError, match="taken"):
        register_model("lpd")(type("Other", (LearnedReconstructor,), {}))
    with pytest.raises(TypeError, match="LearnedReconstructor"):
        register_model("plain")(torch.nn.Linear)


def test_constructor_arguments_must_be_json():
    class Scaled(LearnedReconstructor):
        def __init__(self, geometry, *, factor=1.0, **options):
            super().__init__(geometry, **options)

    assert Scaled(GEOMETRY, factor=(2, 3)).config["factor"] == [2, 3]
    with pytest.raises(TypeError, match="factor: expected a JSON value"):
        Scaled(GEOMETRY, factor={1, 2})
