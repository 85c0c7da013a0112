"""Two Gloo processes under torchrun follow the loss trajectory of one process on the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recon.training import read_metadata, train
from recon.training.distributed import setup_distributed
from recon.training.trainer import LAST_FILE

WORKER = """\
import sys
from pathlib import Path
from recon.training import load_config, train
train(load_config(sys.argv[1]))
"""


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_two_processes_match_one_process(tiny_config, tmp_path):
    single = train(tiny_config(output_dir=str(tmp_path / "single")))

    config = tiny_config(output_dir=str(tmp_path / "ddp"))
    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(yaml.safe_dump(config.to_dict()))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(config_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    expected, got = read_csv(single.output_dir / "steps.csv"), read_csv(tmp_path / "ddp" / "steps.csv")
    assert len(got) == len(expected) == 8
    for a, b in zip(expected, got):
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        assert float(b["learning_rate"]) == pytest.approx(float(a["learning_rate"]), rel=1e-12)
        assert float(b["loss"]) == pytest.approx(float(a["loss"]), rel=1e-4)
    for a, b in zip(read_csv(single.output_dir / "epochs.csv"), read_csv(tmp_path / "ddp" / "epochs.csv")):
        assert float(b["validation_psnr"]) == pytest.approx(float(a["validation_psnr"]), abs=1e-3)
    assert read_metadata(tmp_path / "ddp" / LAST_FILE)["processes"] == 2
    assert read_metadata(single.last_checkpoint)["processes"] == 1
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in single.output_dir.iterdir())


def test_without_torchrun_there_is_one_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = setup_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main, context.distributed) == (0, 1, True, False)
    assert not context.owns_group
