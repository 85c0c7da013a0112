"""Train a learned reconstructor from a protocol file.

Examples: ``recon train --config experiments/lpd_small.yaml``;
``recon train --config experiments/lpd_small.yaml --set epochs=2 --set data.train_samples=64``;
continue an interrupted run with ``--resume``. Distributed: launch the same
command under ``torchrun`` (see :mod:`recon.training.distributed`).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML protocol, e.g. experiments/lpd_small.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config entry (repeatable), e.g. epochs=2 or data.seed=1")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the training state in the config's output_dir")


def run(args: argparse.Namespace) -> int:
    from recon.training import TrainingDiverged, load_config, train

    config = load_config(args.config, args.overrides)
    try:
        result = train(config, resume=args.resume)
    except TrainingDiverged as error:
        print(f"recon train: {error}", file=sys.stderr)
        return 1
    print(f"trained {config.model}: {result.epochs} epochs, {result.steps} steps, {result.describe_best()}")
    print(f"checkpoints {result.best_checkpoint} (best), {result.last_checkpoint} (last)")
    return 0
