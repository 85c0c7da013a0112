"""A tiny training configuration (17x11 images, 7 angles, 23 bins) that trains in about a second."""

from __future__ import annotations

import pytest

from recon.training import DataConfig, TrainingConfig

TINY_GEOMETRY = {"preset": "parallel", "image_size": [17, 11], "num_angles": 7, "num_detectors": 23}


@pytest.fixture
def tiny_config(tmp_path):
    """``tiny_config(**overrides)``: a small LPD trained on 16 phantoms, writing under ``tmp_path``."""

    def make(**overrides) -> TrainingConfig:
        settings = dict(
            model="lpd",
            model_args={"iterations": 3, "hidden_channels": 8},
            geometry=TINY_GEOMETRY,
            data=DataConfig(train_samples=16, validation_samples=4),
            epochs=2,
            batch_size=4,
            learning_rate=3e-3,
            cpu_backend="threads",
            device="cpu",
            output_dir=str(tmp_path / "run"),
            progress=False,
        )
        settings.update(overrides)
        return TrainingConfig(**settings)

    return make
