"""``recon train``: a protocol file plus overrides trains and reports; failures are one line."""

from __future__ import annotations

import argparse
import math

import pytest
import yaml

from recon.commands import train as command
from recon.training import Trainer


def parse(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def protocol(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "model": "dncnn",
        "model_args": {"depth": 3, "channels": 4},
        "geometry": {"preset": "parallel", "image_size": [17, 11], "num_angles": 7, "num_detectors": 23},
        "data": {"train_samples": 8, "validation_samples": 2},
        "epochs": 3,
        "cpu_backend": "threads",
        "device": "cpu",
        "progress": False,
    }))
    return path


def test_train_with_overrides_then_resume(protocol, tmp_path, capsys):
    output = tmp_path / "out"
    overrides = ["--set", f"output_dir={output}", "--set", "batch_size=4"]
    assert command.run(parse(["--config", str(protocol), *overrides, "--set", "epochs=1"])) == 0
    assert "trained dncnn: 1 epochs, 2 steps" in capsys.readouterr().out
    assert (output / "best.safetensors").exists()
    with pytest.raises(ValueError, match=r"changed: \['epochs'\]"):
        command.run(parse(["--config", str(protocol), *overrides, "--resume"]))


def test_divergence_is_one_line_and_status_1(protocol, tmp_path, capsys, monkeypatch):
    original_step = Trainer._step
    monkeypatch.setattr(Trainer, "_step", lambda self, y, x: original_step(self, y, x * math.nan))
    status = command.run(parse(["--config", str(protocol), "--set", f"output_dir={tmp_path / 'out'}"]))
    assert status == 1
    error = capsys.readouterr().err
    assert error.startswith("recon train: training stopped: the loss became nan") and error.count("\n") == 1


@pytest.mark.parametrize("state, message", [
    ({}, "expected a recon training state with the entries ['config', 'model',"),
    ("tensor", "expected a training state (a mapping of entries), got Tensor"),
    ("list", "expected a training state (a mapping of entries), got list"),
    ("wrong shape", "expected the training state of this dncnn run, got one that does not fit it: RuntimeError"),
    ("no rng", "expected a recon training state, got entries of the wrong type: rng (int)"),
])
def test_resume_from_a_state_that_is_not_this_run_is_one_line(protocol, tmp_path, cli_error, state, message):
    import torch

    train = ["train", "--config", protocol, "--set", f"output_dir={tmp_path / 'out'}", "--set", "epochs=1"]
    state_path = tmp_path / "out" / "state.pt"
    if isinstance(state, dict):
        (tmp_path / "out").mkdir()
        torch.save(state, state_path)
    elif state in ("tensor", "list"):
        (tmp_path / "out").mkdir()
        torch.save(torch.zeros(3) if state == "tensor" else [1, 2], state_path)
    else:
        assert command.run(parse([str(arg) for arg in train[1:]])) == 0
        saved = torch.load(state_path, weights_only=True)
        if state == "wrong shape":
            saved["model"] = {key: value[..., :1] if value.dim() else value for key, value in saved["model"].items()}
        else:
            saved["rng"] = 0
        torch.save(saved, state_path)
    cli_error([*train, "--resume"], f"{state_path}: {message}")
