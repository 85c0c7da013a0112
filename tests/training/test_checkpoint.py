"""Model checkpoints and training states: round trips, metadata, and refusing unsafe files."""

from __future__ import annotations

import os
import pickle
import random
import re

import numpy as np
import pytest
import torch

import recon
from recon.models import build_model
from recon.training import checkpoint
from recon.training.checkpoint import (
    UnsafeCheckpointError,
    load_model,
    load_training_state,
    read_metadata,
    save_model,
    save_training_state,
)
from recon.training.seeding import rng_state, set_rng_state
from tests.models.test_models import GEOMETRY, SMALL, sinograms


@pytest.mark.parametrize("name", sorted(SMALL))
def test_round_trip_gives_the_same_outputs(tmp_path, name):
    torch.manual_seed(1)
    model = build_model(name, geometry=GEOMETRY, **SMALL[name])
    model.train()(sinograms(4))  # batch-norm statistics move away from their defaults
    model.eval()
    path = save_model(model, tmp_path / "model.safetensors")
    loaded = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.geometry == GEOMETRY and loaded.config == model.config
    y = sinograms(2, seed=5)
    torch.testing.assert_close(loaded(y), model(y), rtol=0, atol=0)


def test_metadata_records_what_rebuilds_and_describes_the_model(tmp_path):
    model = build_model("lpd", geometry=GEOMETRY, **SMALL["lpd"])
    physics = {"photons": 4096, "phantom": "ellipses"}
    path = save_model(model, tmp_path / "m.safetensors",
                      extra_metadata={"physics": physics, "training": {"epochs": 3}})
    metadata = read_metadata(path)
    assert metadata["model"] == "lpd" and metadata["format"] == checkpoint.FORMAT
    assert recon.Geometry.from_dict(metadata["config"]["geometry"]) == GEOMETRY
    assert metadata["physics"] == physics and metadata["training"] == {"epochs": 3}
    assert metadata["code_version"] == recon.__version__
    assert load_model(path).metadata == metadata


def test_save_refuses_reserved_keys_and_existing_files(tmp_path):
    model = build_model("dncnn", geometry=GEOMETRY, **SMALL["dncnn"])
    path = save_model(model, tmp_path / "m.safetensors")
    with pytest.raises(FileExistsError):
        save_model(model, path)
    save_model(model, path, overwrite=True)
    with pytest.raises(ValueError, match="reserved"):
        save_model(model, tmp_path / "n.safetensors", extra_metadata={"model": "x"})
    with pytest.raises(TypeError, match="registered"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "o.safetensors")


def test_a_failed_save_leaves_no_file(tmp_path, monkeypatch):
    import safetensors.torch

    def fail(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    model = build_model("dncnn", geometry=GEOMETRY, **SMALL["dncnn"])
    with pytest.raises(OSError, match="disk full"):
        save_model(model, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


class _RunsCode:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    payload = {"weights": _RunsCode(marker)}
    for name in ("evil.safetensors", "evil.pt"):
        path = tmp_path / name
        if writer == "pickle":
            path.write_bytes(pickle.dumps(payload))
        else:
            torch.save(payload, path)
        with pytest.raises(UnsafeCheckpointError, match="could run code"):
            load_model(path)
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        load_training_state(tmp_path / "evil.pt")
    assert not marker.exists()


def test_files_that_are_not_recon_checkpoints(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="without recon's metadata"):
        load_model(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="not a readable recon checkpoint"):
        load_model(garbage)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")


def test_weights_that_do_not_fit_the_recorded_model(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = save_model(build_model("lpd", geometry=GEOMETRY, **SMALL["lpd"]), tmp_path / "m.safetensors")
    with safe_open(path, framework="pt") as file:
        header = file.metadata()
    tensors = load_file(path)
    tensors.pop("operator_norm")
    save_file(tensors, path, metadata=header)
    with pytest.raises(ValueError, match="(?s)do not fit model 'lpd'.*operator_norm"):
        load_model(path)


def test_shipped_names_resolve_under_the_weights_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="lpd-small.*none are installed yet"):
        load_model("lpd-small")
    model = build_model("lgd", geometry=GEOMETRY, **SMALL["lgd"])
    save_model(model, tmp_path / "lgd-tiny.safetensors")
    assert load_model("lgd-tiny").config == model.config
    with pytest.raises(FileNotFoundError, match=r"holds \['lgd-tiny'\]"):
        load_model("lpd-small")


def test_training_state_round_trip_restores_every_generator(tmp_path):
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    np.random.standard_normal()  # a cached Gaussian in NumPy's state
    state = {"rng": rng_state(), "step": 7, "weights": {"w": torch.arange(3.0)}}
    path = save_training_state(state, tmp_path / "state.pt")
    expected = (random.random(), np.random.random(), torch.rand(1))
    loaded = load_training_state(path)
    assert loaded["step"] == 7
    torch.testing.assert_close(loaded["weights"]["w"], torch.arange(3.0))
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.random()) == expected[:2]
    torch.testing.assert_close(torch.rand(1), expected[2], rtol=0, atol=0)


def test_a_checkpoint_gets_the_permissions_of_any_new_file(tmp_path):
    ordinary = tmp_path / "ordinary"
    ordinary.touch()
    path = save_model(build_model("dncnn", geometry=GEOMETRY, **SMALL["dncnn"]), tmp_path / "m.safetensors")
    assert path.stat().st_mode & 0o777 == ordinary.stat().st_mode & 0o777


def _rewrite_metadata(path, change):
    """Rewrite a checkpoint's recon metadata through ``change(metadata)``, weights unchanged."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(path, framework="pt") as file:
        metadata = json.loads(file.metadata()["recon"])
    save_file(load_file(path), path, metadata={"recon": json.dumps(change(metadata))})


@pytest.mark.parametrize("change, match", [
    (lambda m: {k: v for k, v in m.items() if k != "config"}, "expected recon's metadata with a model name and "
                                                                 "its config, got model 'dncnn' and config NoneType"),
    (lambda m: {**m, "model": 3}, "expected recon's metadata with a model name and its config, got model 3"),
    (lambda m: {**m, "config": {**m["config"], "bogus": 1}}, "expected a model config recon can build"),
])
def test_checkpoint_metadata_without_what_rebuilds_the_model(tmp_path, change, match):
    path = save_model(build_model("dncnn", geometry=GEOMETRY, **SMALL["dncnn"]), tmp_path / "m.safetensors")
    _rewrite_metadata(path, change)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {match}"):
        load_model(path)


def test_bytes_that_look_like_a_pickle_only_by_their_first_byte_are_not_called_unsafe(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\x80\xff" + bytes(30))
    with pytest.raises(ValueError, match="not a readable recon checkpoint") as caught:
        load_model(path)
    assert caught.type is ValueError


@pytest.mark.parametrize("content, match", [
    (b"", "expected a training state written by recon .a torch.save file., got an empty file"),
    (b"GIF89a" + bytes(40), r"got a file that is not a torch file \(it starts with b'GIF8'\)"),
    (b"\x80\x04" + bytes(range(100, 160)), r"got a damaged torch file \(Unsupported operand"),
    ("list", "expected a training state .a mapping of entries., got list"),
    ("tensor", "expected a training state .a mapping of entries., got Tensor"),
    ("truncated", "got a damaged or truncated torch file"),
])
def test_files_that_are_not_training_states_say_what_they_are(tmp_path, content, match):
    path = tmp_path / "state.pt"
    if content == "list":
        torch.save([1, 2], path)
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    elif content == "truncated":
        torch.save({"step": torch.arange(1000)}, path)
        path.write_bytes(path.read_bytes()[:900])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: .*{match}") as caught:
        load_training_state(path)
    assert caught.type is ValueError  # not UnsafeCheckpointError: nothing here could run code


def test_a_shipped_name_wins_over_a_file_of_that_name_written_as_a_path_it_is_the_file(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", weights)
    model = build_model("lgd", geometry=GEOMETRY, **SMALL["lgd"])
    save_model(model, weights / "lgd-tiny.safetensors")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lgd-tiny").write_bytes(b"not a checkpoint")
    assert load_model("lgd-tiny").config == model.config
    with pytest.raises(ValueError, match="lgd-tiny: not a readable recon checkpoint"):
        load_model("./lgd-tiny")
