"""Training on a tiny geometry: the loss falls, exact resume, divergence, configs, logs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recon.training import DataConfig, Trainer, TrainingDiverged, load_model, load_training_state, read_metadata, train
from recon.training.trainer import BEST_FILE, LAST_FILE, STATE_FILE


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def interrupted_run(monkeypatch, config, at_step: int) -> None:
    """Train ``config`` until step ``at_step`` (0-based) begins, stopped there as Ctrl-C would stop it."""
    original = Trainer._step

    def stop(self, *batch):
        if self.step == at_step:
            raise KeyboardInterrupt
        return original(self, *batch)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_step", stop)
        with pytest.raises(KeyboardInterrupt):
            train(config)


def test_a_tiny_model_learns_and_leaves_checkpoints_and_logs(tiny_config):
    # From a zero image (the FBP start would leave little to learn in 12 steps).
    config = tiny_config(epochs=3, model_args={"iterations": 3, "hidden_channels": 8, "initialization": "zero"})
    result = train(config)
    assert (result.epochs, result.steps) == (3, 12)
    losses = [float(row["loss"]) for row in read_csv(result.output_dir / "steps.csv")]
    assert len(losses) == 12
    assert sum(losses[-4:]) / 4 < 0.7 * losses[0]  # measured: 0.60
    epochs = read_csv(result.output_dir / "epochs.csv")
    assert [int(row["epoch"]) for row in epochs] == [1, 2, 3]
    assert result.best_psnr == max(float(row["validation_psnr"]) for row in epochs)
    assert all(0 < float(row["validation_ssim"]) <= 1 for row in epochs)
    best = read_metadata(result.best_checkpoint)
    assert best["validation"]["psnr"] == result.best_psnr
    assert best["physics"]["photons"] == 4096 and best["physics"]["phantom"] == "ellipses"
    assert best["training"] == config.to_dict()
    model = load_model(result.last_checkpoint)
    assert model(torch.zeros(2, 1, 7, 23)).shape == (2, 1, 17, 11)


@pytest.mark.parametrize("state_every, saved_step", [(None, 4), (1, 5)])
def test_resume_after_an_interruption_matches_an_uninterrupted_run(tiny_config, tmp_path, monkeypatch,
                                                                    state_every, saved_step):
    uninterrupted = train(tiny_config(output_dir=str(tmp_path / "a")))
    generators_after = torch.get_rng_state()

    config = tiny_config(output_dir=str(tmp_path / "b"), state_every=state_every)
    interrupted_run(monkeypatch, config, at_step=5)  # the second step of the second epoch
    assert load_training_state(tmp_path / "b" / STATE_FILE)["step"] == saved_step
    resumed = train(config, resume=True)
    assert torch.equal(torch.get_rng_state(), generators_after)  # the data loaders drew the same seeds

    assert resumed.steps == uninterrupted.steps == 8
    for log in ("steps.csv", "epochs.csv"):
        expected = read_csv(uninterrupted.output_dir / log)
        got = read_csv(resumed.output_dir / log)
        assert [{k: v for k, v in row.items() if k != "seconds"} for row in got] == \
            [{k: v for k, v in row.items() if k != "seconds"} for row in expected]  # bit for bit, no repeats
    a, b = load_model(uninterrupted.last_checkpoint), load_model(resumed.last_checkpoint)
    for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=key)


def test_validation_inside_an_epoch_keeps_the_best_of_all_and_resumes(tiny_config, tmp_path, monkeypatch):
    config = tiny_config(epochs=1, data=DataConfig(train_samples=24, validation_samples=4), validate_every=2,
                         learning_rate=1e-2)
    result = train(config)
    rows = read_csv(result.output_dir / "epochs.csv")
    assert [int(row["step"]) for row in rows] == [2, 4, 6] and {row["epoch"] for row in rows} == {"1"}
    best = max(rows, key=lambda row: float(row["validation_psnr"]))
    assert read_metadata(result.best_checkpoint)["step"] == int(best["step"])
    # interrupted after the first validation, the resumed run validates at the same steps with the same scores
    interrupted = tiny_config(epochs=1, data=DataConfig(train_samples=24, validation_samples=4), validate_every=2,
                              learning_rate=1e-2, output_dir=str(tmp_path / "again"))
    interrupted_run(monkeypatch, interrupted, at_step=3)
    train(interrupted, resume=True)
    again = read_csv(tmp_path / "again" / "epochs.csv")
    assert [row["validation_psnr"] for row in again] == [row["validation_psnr"] for row in rows]


def test_resume_refuses_a_missing_state_or_another_config(tiny_config):
    with pytest.raises(FileNotFoundError, match="no training state"):
        Trainer(tiny_config(), resume=True)
    train(tiny_config(epochs=1))
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(tiny_config(epochs=1))
    with pytest.raises(ValueError, match=r"changed: \['learning_rate'\]"):
        Trainer(tiny_config(epochs=1, learning_rate=1e-2), resume=True)


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    original_step = Trainer._step

    def poisoned_step(self, sinograms, images):
        if self.epoch == 1:
            images = images * math.nan
        return original_step(self, sinograms, images)

    monkeypatch.setattr(Trainer, "_step", poisoned_step)
    config = tiny_config()
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 5.*last\.safetensors \(epoch 1\)"):
        train(config)
    folder = Path(config.output_dir)
    assert read_metadata(folder / LAST_FILE)["epoch"] == 1
    assert load_training_state(folder / STATE_FILE)["step"] == 4
    assert all(torch.isfinite(p).all() for p in load_model(folder / BEST_FILE).parameters())




def test_batch_size_must_fit_the_data(tiny_config):
    with pytest.raises(ValueError, match="more than the 16 training samples"):
        Trainer(tiny_config(batch_size=32))


def test_training_refuses_evaluation_families_and_records_its_families(tiny_config, tmp_path):
    from recon.training import DataConfig

    with pytest.raises(ValueError, match=r"training data: the families \['forbild \(test\)'\]"):
        Trainer(tiny_config(data=DataConfig(phantom="forbild", train_samples=8, validation_samples=4)))
    with pytest.raises(ValueError, match=r"validation data: the families \['anatomy \(test\)'\]"):
        Trainer(tiny_config(data=DataConfig(phantom="ellipses", validation_phantom=["pelvis", "anatomy"],
                                             train_samples=8, validation_samples=4)))
    data = DataConfig(phantom="mixed", validation_phantom=["pelvis", "polygons"], train_samples=8,
                      validation_samples=4, photons=1000, photons_max=8000)
    result = train(tiny_config(data=data, epochs=1))
    metadata = read_metadata(result.last_checkpoint)
    assert metadata["families"] == {"training": ["mixed"], "validation": ["pelvis", "polygons"]}
    assert metadata["physics"]["photons_max"] == 8000


def test_training_on_paired_hdf5_files(tiny_config, tmp_path):
    from recon.data.hdf5 import write_paired
    from recon.operators import RayTransform
    from recon.training import DataConfig
    from recon.training.config import build_geometry
    from tests.training.conftest import TINY_GEOMETRY

    geometry = build_geometry(TINY_GEOMETRY)
    images = torch.rand((10, 1, *geometry.image_shape), generator=torch.Generator().manual_seed(0))
    sinograms = RayTransform(geometry)(images)
    for split, rows in (("train", slice(0, 8)), ("validation", slice(8, 10))):
        write_paired(tmp_path / f"{split}.h5", images[rows, 0].numpy(), sinograms[rows, 0].numpy(),
                     geometry=geometry, physics={"photons": None, "note": "noise-free"})
    data = DataConfig(source="hdf5", train=str(tmp_path / "train.h5"), validation=str(tmp_path / "validation.h5"))
    result = train(tiny_config(data=data, geometry=None, epochs=1))
    assert result.steps == 2
    physics = read_metadata(result.last_checkpoint)["physics"]
    assert physics["source"] == "hdf5" and physics["note"] == "noise-free"
    other = {**TINY_GEOMETRY, "num_angles": 8}
    with pytest.raises(ValueError, match="geometry differs"):
        Trainer(tiny_config(data=data, geometry=other, output_dir=str(tmp_path / "other")))


def test_sparse_view_training_takes_an_angle_subset_of_the_files(tiny_config, tmp_path):
    from recon import Geometry
    from recon.data.hdf5 import write_paired
    from recon.training.data import build_datasets

    geometry = Geometry.parallel(image_size=(17, 11), num_angles=8, num_detectors=23)
    rng = np.random.default_rng(0)
    for split in ("train", "validation"):
        write_paired(tmp_path / f"{split}.h5", rng.random((4, 17, 11), dtype=np.float32),
                     rng.random((4, 8, 23), dtype=np.float32), geometry=geometry, physics={})
    data = DataConfig(source="hdf5", train=str(tmp_path / "train.h5"), validation=str(tmp_path / "validation.h5"),
                      num_angles=2)
    datasets = build_datasets(tiny_config(data=data, geometry=None))
    assert datasets.geometry == geometry.angle_subset(4) and datasets.train[0][0].shape == (1, 2, 23)
    with pytest.raises(ValueError, match="data.num_angles: for files only"):
        DataConfig(train_samples=4, validation_samples=2, num_angles=2)


def test_training_on_a_folder_in_lodopab_layout(tiny_config, tmp_path):
    from recon.data.lodopab import write_lodopab
    from recon.geometry import Geometry
    from recon.operators import RayTransform
    from recon.training import DataConfig

    geometry = Geometry.parallel(image_size=16, num_angles=7, num_detectors=23)
    images = torch.rand((10, 1, 16, 16), generator=torch.Generator().manual_seed(0))
    sinograms = RayTransform(geometry)(images)
    write_lodopab(tmp_path, "train", sinograms[:8, 0].numpy(), images[:8, 0].numpy())
    write_lodopab(tmp_path, "validation", sinograms[8:, 0].numpy(), images[8:, 0].numpy())
    data = DataConfig(source="lodopab", train=str(tmp_path), train_samples=4)
    result = train(tiny_config(data=data, geometry=None, epochs=1))
    assert result.steps == 1  # train_samples limits the 8 samples to one batch of 4
    metadata = read_metadata(result.last_checkpoint)
    assert metadata["physics"]["source"] == "lodopab" and metadata["physics"]["photons"] == 4096
    assert Geometry.from_dict(metadata["config"]["geometry"]) == geometry


def test_a_training_state_of_an_earlier_release_resumes(tiny_config, tmp_path, monkeypatch):
    from recon.training import save_training_state

    config = tiny_config(output_dir=str(tmp_path / "old"))
    interrupted_run(monkeypatch, config, at_step=5)
    state = load_training_state(tmp_path / "old" / STATE_FILE)
    best = state.pop("best_score")
    save_training_state({**state, "best_psnr": best}, tmp_path / "old" / STATE_FILE)  # its name before 2026-12
    resumed = train(config, resume=True)
    assert resumed.steps == 8 and resumed.best_score >= best
