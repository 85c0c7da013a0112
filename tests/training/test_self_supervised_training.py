"""Training without clean images: sinogram-only files and LoDoPaB observations, and the self-supervised trainer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from recon.cli import main
from recon.data.datasets import PairedDataset, SinogramsOnly
from recon.data.lodopab import LoDoPaB, lodopab_file, write_lodopab
from recon.training import DataConfig, Trainer, load_training_state, read_metadata, train
from recon.training.trainer import STATE_FILE
from tests.training.test_trainer import interrupted_run, read_csv

TINY = ["--image-size", "16", "--num-angles", "8", "--num-detectors", "23", "--factor", "2", "--quiet"]
EIGHT_ANGLES = {"preset": "parallel", "image_size": 16, "num_angles": 8, "num_detectors": 23}


def simulate(folder, *extra: str) -> None:
    assert main(["simulate", str(folder), *TINY, "--samples", "10", "--splits", "0.8,0.2,0", *extra]) == 0


def test_simulate_no_images_writes_the_same_sinograms_without_the_images(tmp_path):
    simulate(tmp_path / "paired")
    simulate(tmp_path / "scans", "--no-images")
    with h5py.File(tmp_path / "scans" / "train.h5") as scans, h5py.File(tmp_path / "paired" / "train.h5") as paired:
        assert "images" not in scans and "images" in paired
        assert np.array_equal(scans["sinograms"][...], paired["sinograms"][...])
    with pytest.raises(ValueError, match="missing dataset 'images'"):
        PairedDataset(tmp_path / "scans" / "train.h5")
    scans = PairedDataset(tmp_path / "scans" / "train.h5", require_images=False)
    assert not scans.has_images and len(scans) == 8
    with pytest.raises(ValueError, match="holds sinograms only"):
        scans[0]
    (sinogram,) = SinogramsOnly(scans)[3]
    assert torch.equal(sinogram, PairedDataset(tmp_path / "paired" / "train.h5")[3][0])


def test_lodopab_observations_open_without_their_ground_truths(tmp_path):
    observations = np.random.default_rng(0).random((130, 8, 23), dtype=np.float32)
    write_lodopab(tmp_path, "train", observations, np.zeros((130, 16, 16), np.float32))
    for number in (0, 1):
        lodopab_file(tmp_path, "ground_truth", "train", number).unlink()
    with pytest.raises(FileNotFoundError, match="ground_truth_train_000.hdf5: no such file"):
        LoDoPaB(tmp_path, "train")
    with pytest.raises(ValueError, match=r"observations of shape \(8, 23\) .* need the image size"):
        LoDoPaB(tmp_path, "train", observations_only=True)
    scans = LoDoPaB(tmp_path, "train", observations_only=True, image_size=16, num_angles=4)
    assert len(scans) == 130 and scans.geometry.image_shape == (16, 16) and scans.geometry.num_angles == 4
    (sinogram,) = SinogramsOnly(scans)[129]
    assert torch.equal(sinogram[0], torch.from_numpy(observations[129, ::2]))
    with pytest.raises(ValueError, match="observations_only"):
        scans.read(0)


def poison_images(path) -> None:
    """Make every stored image NaN: reading one would stop training with an error naming it."""
    with h5py.File(path, "r+") as h5:
        h5["images"][...] = np.nan


@pytest.mark.parametrize(("model", "model_args", "loss", "loss_args"), [
    ("fbpconvnet", {"scales": 2, "channels": 4}, "noise2inverse", {"subsets": 2}),
    ("lpd", {"iterations": 2, "hidden_channels": 4}, "sure", {}),
    ("lpd", {"iterations": 2, "hidden_channels": 4}, "ei", {"weight": 0.1}),
])
def test_self_supervised_training_never_reads_an_image(tiny_config, tmp_path, model, model_args, loss, loss_args):
    simulate(tmp_path / "data", "--photons", "1000")
    for split in ("train", "validation"):
        poison_images(tmp_path / "data" / f"{split}.h5")
    data = DataConfig(source="hdf5", train=str(tmp_path / "data" / "train.h5"),
                      validation=str(tmp_path / "data" / "validation.h5"))
    supervised = tiny_config(model=model, model_args=model_args, data=data, geometry=None,
                             output_dir=str(tmp_path / "supervised"))
    with pytest.raises(ValueError, match="NaN"):
        train(supervised)
    config = tiny_config(model=model, model_args=model_args, data=data, geometry=None, loss=loss,
                         loss_args=loss_args, batch_size=4)
    result = train(config)
    assert (result.epochs, result.steps) == (2, 4)
    epochs = read_csv(result.output_dir / "epochs.csv")
    losses = [float(row["validation_loss"]) for row in epochs]
    assert all(np.isfinite(losses)) and {row["validation_psnr"] for row in epochs} == {""}
    assert result.best_score == -min(losses) and np.isnan(result.best_psnr)
    assert f"best validation {loss} loss" in result.describe_best()
    assert read_metadata(result.best_checkpoint)["validation"] == {"loss": min(losses)}


def test_a_self_supervised_run_resumes_exactly(tiny_config, tmp_path, monkeypatch):
    def config(name):
        return tiny_config(model="fbpconvnet", model_args={"scales": 2, "channels": 4}, geometry=EIGHT_ANGLES,
                           loss="noise2inverse", loss_args={"subsets": 4}, output_dir=str(tmp_path / name))

    uninterrupted = train(config("a"))
    interrupted_run(monkeypatch, config("b"), at_step=5)
    assert load_training_state(tmp_path / "b" / STATE_FILE)["step"] == 4
    resumed = train(config("b"), resume=True)
    assert resumed.best_score == uninterrupted.best_score
    assert read_csv(tmp_path / "a" / "steps.csv") == read_csv(tmp_path / "b" / "steps.csv")


def test_self_supervised_configs_refuse_what_cannot_work(tiny_config):
    with pytest.raises(ValueError, match="loss_args: for the self-supervised losses"):
        tiny_config(loss="mse", loss_args={"subsets": 4})
    with pytest.raises(ValueError, match="noise2inverse trains a post-processing model"):
        Trainer(tiny_config(loss="noise2inverse"))
    with pytest.raises(ValueError, match="divisor of the geometry's 7 angles, got 4"):
        Trainer(tiny_config(model="fbpconvnet", model_args={"scales": 2, "channels": 4}, loss="noise2inverse",
                            loss_args={"subsets": 4}))
