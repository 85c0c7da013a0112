"""`recon benchmark`: the table and files, resume, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from recon import cli
from recon.data.hdf5 import write_paired
from recon.interop import DEEPINV_INSTALL
from recon.physics import MU_MAX

TINY = ["--image-size", "13", "--num-angles", "7", "--num-detectors", "19", "--samples", "4", "--quiet"]


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The command, registered as recon.cli registers it."""
    monkeypatch.setitem(cli.COMMANDS, "benchmark", ("recon.commands.benchmark", "benchmark reconstructors"))


def benchmark(output, *extra: str) -> int:
    return cli.main(["benchmark", "--output", str(output), *extra])


def test_prints_the_table_and_writes_every_file(tmp_path, capsys):
    assert benchmark(tmp_path, *TINY, "--methods", "fbp", "tv:iterations=10", "odl-fbp",
                     "--photons", "4096", "1024") == 0
    out, err = capsys.readouterr()
    assert "| fbp |" in out and "| tv:iterations=10 |" in out and "| odl-fbp |" in out
    assert "Dose sweep" in out and "results.csv" in err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[2:] == ["parts", "results.csv", "summary.json", "summary.md"]
    assert all(name.startswith("examples_built-in") and name.endswith(".png") for name in names[:2])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["arguments"]["photons"] == [4096.0, 1024.0]
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 1 + 2 * (3 + 1) * 4

    assert benchmark(tmp_path, *TINY, "--methods", "fbp", "tv:iterations=10", "odl-fbp",
                     "--photons", "4096", "1024") == 0
    assert "reused finished results of fbp, odl-fbp, tv:iterations=10" in capsys.readouterr().err


def test_sparse_view_fan_beam_builtin_data(tmp_path, capsys):
    assert benchmark(tmp_path, *TINY, "--geometry", "fan", "--num-angles", "14", "--angle-step", "2",
                     "--methods", "fbp", "--examples", "0") == 0
    assert "4 images, fan 13x13 image, 7 angles, 19 bins" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))


def test_runs_on_a_recon_hdf5_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    import recon

    geometry = recon.Geometry.parallel(image_size=13, num_angles=7, num_detectors=19)
    images = rng.random((3, 13, 13), dtype=np.float32)
    path = write_paired(tmp_path / "test.h5", images, rng.random((3, 7, 19), dtype=np.float32) * 0.05,
                        geometry=geometry, physics={"photons": 4096, "mu_max": MU_MAX})
    assert benchmark(tmp_path / "out", "--data", str(path), "--methods", "fbp", "--quiet") == 0
    assert "3 images, parallel 13x13 image, 7 angles, 19 bins" in capsys.readouterr().out


def test_group_labels_of_a_recon_file_give_a_breakdown(tmp_path, capsys):
    import recon
    from recon.data.phantoms import shepp_logan

    geometry = recon.Geometry.parallel(image_size=32, num_angles=30, num_detectors=47)
    images = np.stack([shepp_logan(32), 0.5 * shepp_logan(32), shepp_logan(32)]).astype(np.float32)
    sinograms = recon.RayTransform(geometry)(torch.from_numpy(images)[:, None])[:, 0].numpy()
    path = write_paired(tmp_path / "test.h5", images, sinograms, geometry=geometry,
                        physics={"photons": 4096, "mu_max": MU_MAX}, groups=["adult", "child", "adult"])
    assert benchmark(tmp_path / "out", "--data", str(path), "--methods", "fbp", "--quiet") == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]
    assert {(e["method"], e["group"], e["n"]) for e in summary if e["method"] == "fbp"} == {
        ("fbp", "all", 3), ("fbp", "adult", 2), ("fbp", "child", 1)}
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "### test.h5: by group" in markdown and "| fbp | child | 1 |" in markdown
    assert "### test.h5: by group" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    ([*TINY, "--methods", "fbp", "fbq"], "unknown method 'fbq'"),
    ([*TINY, "--methods", "cgls:iterations"], "expected parameters as key=value"),
    ([*TINY, "--batch-size", "0"], "batch_size"),
    (["--samples", "0", "--image-size", "13"], "positive"),
    (["--data", "missing.h5"], "missing.h5: no such file"),
    (["--data", ".", "--photons", "100"], "--photons: only for built-in data"),
    ([*TINY, "--methods", "fbp", "deepinv-fbp:filter=hann"], "deepinv-fbp takes no parameters"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert benchmark(tmp_path / "out", *arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("recon benchmark: error:")
    assert not (tmp_path / "out").exists()


def test_empty_lodopab_folder_and_foreign_checkpoint_geometry_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert benchmark(tmp_path / "out", "--data", str(tmp_path / "empty"), "--quiet") == 2
    assert capsys.readouterr().err.count("\n") == 1

    import recon
    from recon.models import build_model
    from recon.training.checkpoint import save_model

    other = recon.Geometry.parallel(image_size=13, num_angles=9, num_detectors=19)
    path = save_model(build_model("dncnn", geometry=other, depth=2, channels=2), tmp_path / "m.safetensors")
    assert benchmark(tmp_path / "out", *TINY, "--methods", "fbp", str(path)) == 2
    err = capsys.readouterr().err
    assert "trained on a parallel 13x13 image, 9 angles, 19 bins" in err and err.count("\n") == 1
    assert "the data are a parallel 13x13 image, 7 angles, 19 bins" in err
    assert not (tmp_path / "out").exists()


def test_empty_recon_file_exits_2(tmp_path, capsys):
    import recon

    geometry = recon.Geometry.parallel(image_size=13, num_angles=7, num_detectors=19)
    path = write_paired(tmp_path / "empty.h5", np.zeros((0, 13, 13), np.float32), np.zeros((0, 7, 19), np.float32),
                        geometry=geometry, physics={"photons": 4096})
    assert benchmark(tmp_path / "out", "--data", str(path), "--methods", "fbp", "--quiet") == 2
    err = capsys.readouterr().err
    assert err == "recon benchmark: error: empty.h5: the dataset is empty, nothing to benchmark\n"
    assert not (tmp_path / "out").exists()


def test_deepinv_fbp_without_deepinv_exits_2_and_is_not_a_default(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "deepinv", None)  # import deepinv raises ImportError
    assert benchmark(tmp_path / "out", *TINY, "--methods", "fbp", "deepinv-fbp") == 2
    err = capsys.readouterr().err
    assert err == f"recon benchmark: error: deepinv-fbp: DeepInverse is not installed here: {DEEPINV_INSTALL}\n"
    assert not (tmp_path / "out").exists()
    assert benchmark(tmp_path / "out", *TINY, "--examples", "0") == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["methods"] == ["fbp", "tv", "odl-fbp"]


def test_a_file_named_like_a_method_does_not_hide_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fbp").touch()
    assert benchmark(tmp_path / "out", *TINY, "--methods", "fbp", "--examples", "0") == 0
    assert "| fbp |" in capsys.readouterr().out
    # written as a path, the file is read as a checkpoint
    assert benchmark(tmp_path / "out2", *TINY, "--methods", "./fbp") == 2
    assert "error: fbp: not a readable recon checkpoint" in capsys.readouterr().err


def test_a_checkpoint_without_its_config_is_one_line(tmp_path, cli_error):
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    import recon
    from recon.models import build_model
    from recon.training.checkpoint import save_model

    geometry = recon.Geometry.parallel(image_size=13, num_angles=7, num_detectors=19)
    path = save_model(build_model("dncnn", geometry=geometry, depth=2, channels=2), tmp_path / "m.safetensors")
    with safe_open(path, framework="pt") as file:
        metadata = json.loads(file.metadata()["recon"])
    del metadata["config"]
    save_file(load_file(path), path, metadata={"recon": json.dumps(metadata)})
    cli_error(["benchmark", "--output", tmp_path / "out", *TINY, "--methods", path],
              f"{path}: expected recon's metadata with a model name and its config")
    assert not (tmp_path / "out").exists()


def test_an_output_folder_in_use_by_another_run_is_refused(tmp_path, cli_error, holder):
    process = holder(tmp_path / "out")
    cli_error(["benchmark", "--output", tmp_path / "out", *TINY, "--methods", "fbp"],
              f"{tmp_path / 'out'}: expected an output folder no other run is using",
              f"in use by process {process.pid}")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".recon.lock"]  # nothing computed
    process.stdin.close()
    process.wait(timeout=30)
    assert benchmark(tmp_path / "out", *TINY, "--methods", "fbp") == 0
    assert not (tmp_path / "out" / ".recon.lock").exists()
