"""Training learned reconstructors: configs, trainer, distributed runs and safe checkpoints."""

from recon.training.checkpoint import (
    UnsafeCheckpointError,
    load_model,
    load_training_state,
    read_metadata,
    save_model,
    save_training_state,
)
from recon.training.config import DataConfig, TrainingConfig, load_config
from recon.training.trainer import Trainer, TrainingDiverged, TrainingResult, train

__all__ = [
    "save_model",
    "load_model",
    "read_metadata",
    "save_training_state",
    "load_training_state",
    "UnsafeCheckpointError",
    "DataConfig",
    "TrainingConfig",
    "load_config",
    "Trainer",
    "TrainingDiverged",
    "TrainingResult",
    "train",
]
