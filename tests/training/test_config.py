"""Training configs: YAML protocols, inheritance, overrides and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recon.models import build_model
from recon.training import load_config
from recon.training.config import build_geometry

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
MODEL_PROTOCOLS = sorted(p for p in EXPERIMENTS.glob("*.yaml") if "model" in yaml.safe_load(p.read_text()))


def test_there_are_model_protocols():
    assert {p.stem for p in MODEL_PROTOCOLS} >= {"lpd_small", "lgd_small", "fbpconvnet_small", "redcnn_small"}


SMALL_PROTOCOLS = [p for p in MODEL_PROTOCOLS if p.stem.endswith("_small")]


@pytest.mark.parametrize("path", SMALL_PROTOCOLS, ids=lambda p: p.stem)
def test_every_small_protocol_builds_its_model_for_the_mixed_training_set(path):
    config = load_config(path)
    geometry = build_geometry(config.geometry)
    assert (geometry.image_shape, geometry.sinogram_shape) == ((128, 128), (360, 183))
    assert config.data.source == "hdf5" and config.validate_every and config.epochs * (
        config.data.train_samples // config.batch_size) % config.validate_every == 0
    assert Path(config.data.train).parent.name in ("mixed_small", "mixed_grain_small")
    assert "validation_small" in config.data.validation
    model = build_model(config.model, geometry=geometry, cpu_backend=config.cpu_backend, **config.model_args)
    assert model.name == config.model


def test_the_full_size_lodopab_protocol_is_dival_s_lpd_on_gpus():
    config = load_config(EXPERIMENTS / "lpd_lodopab.yaml", ["data.train=/data/lodopab"])
    assert config.data.source == "lodopab" and config.device == "cuda" and config.geometry is None
    assert config.model == "lpd" and config.model_args["hidden_channels"] == 32


def test_overrides_and_their_errors(tmp_path):
    protocol = EXPERIMENTS / "lpd_small.yaml"
    config = load_config(protocol, ["epochs=2", "data.train_samples=8", "model_args.iterations=4"])
    assert (config.epochs, config.data.train_samples, config.model_args["iterations"]) == (2, 8, 4)
    assert config.model_args["primal_channels"] == 5  # the rest of the section stays
    # PyYAML alone reads "1e-3" as a string (YAML 1.1); protocols and --set read it as a number.
    assert load_config(protocol, ["learning_rate=1e-3"]).learning_rate == pytest.approx(1e-3)
    (tmp_path / "rate.yaml").write_text(f"inherit: {protocol}\nlearning_rate: 5e-4\n")
    assert load_config(tmp_path / "rate.yaml").learning_rate == pytest.approx(5e-4)
    with pytest.raises(ValueError, match=r"unknown keys \['epoch'\]"):
        load_config(protocol, ["epoch=2"])
    with pytest.raises(ValueError, match=r"data: unknown keys \['photon'\]"):
        load_config(protocol, ["data.photon=2"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(protocol, ["epochs"])
    with pytest.raises(ValueError, match="batch_size: expected a positive number"):
        load_config(protocol, ["batch_size=0"])
    with pytest.raises(ValueError, match="phantoms need train_samples"):
        load_config(protocol, ["data.source=phantoms", "data.train_samples=null"])
    with pytest.raises(ValueError, match="set by the training config"):
        load_config(protocol, ["model_args.cpu_backend=threads"])
    with pytest.raises(ValueError, match="set by the training config"):
        load_config(protocol, ["model_args.cuda_backend=sparse"])
    with pytest.raises(ValueError, match="cuda_backend"):
        load_config(protocol, ["cuda_backend=cusparse"])
    with pytest.raises(FileNotFoundError, match="no such config"):
        load_config(tmp_path / "missing.yaml")


def test_inherit_lays_a_file_over_its_parent(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"geometry": {"preset": "parallel", "image_size": 16}, "data": {"train_samples": 4, "validation_samples": 2},
         "epochs": 3}))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(
        {"inherit": "base.yaml", "model": "dncnn", "data": {"train_samples": 8}, "epochs": 5}))
    config = load_config(tmp_path / "child.yaml")
    assert (config.epochs, config.data.train_samples, config.data.validation_samples) == (5, 8, 2)
    assert config.geometry == {"preset": "parallel", "image_size": 16}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"inherit": "child.yaml"}))
    with pytest.raises(ValueError, match="inherits from itself"):
        load_config(tmp_path / "child.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_config(tmp_path / "list.yaml")


def test_the_noise2inverse_protocol_is_fbpconvnet_small_trained_without_images():
    n2i, supervised = load_config(EXPERIMENTS / "n2i_small.yaml"), load_config(EXPERIMENTS / "fbpconvnet_small.yaml")
    assert (n2i.loss, n2i.loss_args) == ("noise2inverse", {"subsets": 4})
    different = {key for key, value in n2i.to_dict().items() if supervised.to_dict()[key] != value}
    assert different == {"loss", "loss_args", "mixed_precision", "output_dir", "data", "model_args"}
    assert n2i.model_args == {**supervised.model_args, "fbp_filter": "ram-lak", "frequency_scaling": 1.0}
    n2i_data, supervised_data = n2i.to_dict()["data"], supervised.to_dict()["data"]
    assert {key for key, value in n2i_data.items() if supervised_data[key] != value} == {"train", "validation"}
    assert "sinograms" in n2i.data.train and "sinograms" in n2i.data.validation
