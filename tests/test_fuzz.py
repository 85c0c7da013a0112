"""Fuzzing every file format recon reads: damaged files give a clear error or a result, nothing else.

For each format -- recon HDF5 split files, LoDoPaB-CT HDF5 files, safetensors
model checkpoints, training states (``state.pt``), YAML configs and DICOM
slices -- a valid file (and, for the pickle-based training state, a pickle
that would run code) is damaged in three ways: replaced by random bytes,
truncated at a random length, or hit by a few random bit flips. Reading the
damaged file must either succeed or raise a user error
(:func:`recon.cli.is_user_error`: one line, exit status 2 in the CLI) whose
message names the file; never another exception, a crash, a hang (each
read runs in a forked child, stopped after :data:`TIMEOUT_S` seconds) or
code execution. Needs ``os.fork`` (Linux, macOS).

The run is seeded (``numpy.random.default_rng``) and small by default, a few
cases per format and damage, so this file runs in a few seconds. A long run::

    RECON_FUZZ_CASES=2000 .venv/bin/python -m pytest -p no:odl_plugins -q tests/test_fuzz.py

``RECON_FUZZ_CASES`` is the number of cases per format and kind of damage
(default 4) and ``RECON_FUZZ_SEED`` the root seed (default 0); a failure
names its format, damage, case and seed, which reproduce it.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import recon
from recon.errors import is_user_error

CASES = int(os.environ.get("RECON_FUZZ_CASES", "4"))
SEED = int(os.environ.get("RECON_FUZZ_SEED", "0"))
#: Seconds one read of a damaged file may take before it counts as a hang.
TIMEOUT_S = 20
GEOMETRY = recon.Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=11)
DAMAGES = ("random", "truncate", "flip")


class _RunsCode:
    """Unpickling this creates the file ``marker``: proof that a reader ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------ formats
# Each writer makes a valid file under ``folder`` and returns (file to damage, reader of it).

def _recon_hdf5(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.data.datasets import PairedDataset
    from recon.data.hdf5 import write_paired

    rng = np.random.default_rng(0)
    path = write_paired(folder / "train.h5", rng.random((3, 9, 7), dtype=np.float32),
                        rng.random((3, 5, 11), dtype=np.float32), geometry=GEOMETRY,
                        physics={"photons": 4096}, groups=["a", "b", "a"])

    def read():
        dataset = PairedDataset(path)
        return [dataset[index] for index in range(len(dataset))]

    return path, read


def _lodopab(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.data.lodopab import LoDoPaB, write_lodopab

    rng = np.random.default_rng(0)
    write_lodopab(folder, "test", rng.random((3, 5, 11), dtype=np.float32), rng.random((3, 7, 7), dtype=np.float32))

    def read():
        dataset = LoDoPaB(folder, "test", allow_partial=True)
        return [dataset[index] for index in range(len(dataset))]

    return folder / "observation_test_000.hdf5", read


def _safetensors(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.models import build_model
    from recon.training.checkpoint import load_model, save_model

    path = save_model(build_model("dncnn", geometry=GEOMETRY, depth=2, channels=2), folder / "m.safetensors")
    return path, lambda: load_model(path)


def _state(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.training.checkpoint import load_training_state, save_training_state
    from recon.training.seeding import rng_state

    path = save_training_state({"model": {"w": torch.arange(6.0)}, "step": 3, "rng": rng_state()},
                               folder / "state.pt")
    return path, lambda: load_training_state(path)


def _state_that_runs_code(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.training.checkpoint import load_training_state

    path = folder / "state.pt"
    torch.save({"step": _RunsCode(folder.parent / "marker")}, path)
    return path, lambda: load_training_state(path)


def _yaml(folder: Path) -> tuple[Path, Callable[[], object]]:
    from recon.training.config import load_config

    path = folder / "protocol.yaml"
    path.write_text(yaml.safe_dump({
        "model": "dncnn", "model_args": {"depth": 2, "channels": 2},
        "geometry": {"preset": "parallel", "image_size": 9, "num_angles": 5, "num_detectors": 11},
        "data": {"train_samples": 4, "validation_samples": 2, "photons": 4096}, "epochs": 1,
        "learning_rate": 1.0e-3, "output_dir": str(folder / "out")}))
    return path, lambda: load_config(path)


def _dicom(folder: Path) -> tuple[Path, Callable[[], object]]:
    from pydicom.data import get_testdata_file

    from recon.data.dicom import read_hu

    path = folder / "slice.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), path)
    return path, lambda: read_hu(path)


FORMATS = {"recon-hdf5": _recon_hdf5, "lodopab": _lodopab, "safetensors": _safetensors, "state": _state,
           "state-that-runs-code": _state_that_runs_code, "yaml": _yaml, "dicom": _dicom}


# ------------------------------------------------------------------ damage
def damage(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """``data`` replaced by random bytes, truncated, or with 1 to 8 bits flipped."""
    if kind == "random":
        return rng.bytes(int(rng.integers(0, 2 * len(data) + 1)))
    if kind == "truncate":
        return data[: int(rng.integers(0, len(data)))]
    flipped = bytearray(data)
    for position in rng.integers(0, 8 * len(data), size=int(rng.integers(1, 9))):
        flipped[position // 8] ^= 1 << (position % 8)
    return bytes(flipped)


def _check(read: Callable[[], object], path: Path, folder: Path) -> str:
    """Empty if ``read()`` succeeds or raises a user error naming the file, else what went wrong."""
    try:
        read()
    except Exception as error:  # noqa: BLE001 - the point: which errors come out
        if not is_user_error(error):
            return f"{type(error).__name__}: {error}"
        if str(path) not in str(error) and str(folder) not in str(error):
            return f"the message names no file: {error}"
    return ""


def outcome(read: Callable[[], object], path: Path, folder: Path) -> str:
    """:func:`_check` in a forked child, so that a crash of a C library or a hang is reported too."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(reader)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(TIMEOUT_S)  # the default action ends the child: a hang
        try:
            os.write(writer, _check(read, path, folder).encode()[:4000])
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        message = stream.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        stop = signal.Signals(os.WTERMSIG(status))
        return f"hung for more than {TIMEOUT_S} s" if stop == signal.SIGALRM else f"crashed ({stop.name})"
    return message


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", FORMATS)
def test_damaged_files_give_a_clear_error_or_a_result(tmp_path, name, kind):
    folder = tmp_path / "files"
    folder.mkdir()
    path, read = FORMATS[name](folder)
    original = path.read_bytes()
    rng = np.random.default_rng([SEED, list(FORMATS).index(name), DAMAGES.index(kind)])
    failures = []
    for case in range(CASES):
        path.write_bytes(damage(original, kind, rng))
        message = outcome(read, path, folder)
        if (tmp_path / "marker").exists():
            message = "reading the file ran code"
        if message:
            failures.append(f"{name}, {kind}, case {case} of seed {SEED}: {message}")
    assert not failures, f"{len(failures)} of {CASES} cases:\n" + "\n".join(failures[:20])


def _zero_chunk_size(path: Path, dataset: str) -> None:
    """Set the recorded size of ``dataset``'s last chunk to 0 in its v1 B-tree key (what a bit flip did)."""
    import h5py

    with h5py.File(path, "r") as h5:
        data = h5[dataset]
        chunk = data.id.get_chunk_info(data.id.get_num_chunks() - 1)
        key_bytes = 4 + 4 + 8 * (data.ndim + 1)  # size, filter mask, offsets (one per axis + the element's)
    raw = bytearray(path.read_bytes())
    address = int(chunk.byte_offset).to_bytes(8, "little")
    positions = [p for p in range(len(raw) - 8) if raw[p:p + 8] == address
                 and raw[p - key_bytes:p - key_bytes + 4] == int(chunk.size).to_bytes(4, "little")]
    assert len(positions) == 1, f"expected one B-tree key of the chunk at {chunk.byte_offset}, found {len(positions)}"
    raw[positions[0] - key_bytes:positions[0] - key_bytes + 4] = bytes(4)
    path.write_bytes(bytes(raw))


def test_a_chunk_index_that_would_crash_libhdf5_gives_a_clear_error(tmp_path):
    """The long fuzz run's case 566 (recon-hdf5, flip, seed 0): a checksummed chunk of recorded size 0
    made libhdf5 2.0.0 segfault on reading it; recon's index check refuses the file instead."""
    folder = tmp_path / "files"
    folder.mkdir()
    path, read = _recon_hdf5(folder)
    _zero_chunk_size(path, "images")
    assert outcome(read, path, folder) == ""
    with pytest.raises(ValueError, match=r"dataset '/images': the chunk at \(2, 0, 0\) \(0 bytes at \d+\) cannot hold"):
        read()


@pytest.mark.parametrize("case", [811, 856])
def test_string_attributes_that_make_libhdf5_loop_forever_give_a_clear_error(tmp_path, monkeypatch, case):
    """The long run's cases 811 and 856 (recon-hdf5, flip, seed 0): reading a damaged variable-length string
    attribute looped forever inside libhdf5 2.0.0; the forked metadata probe turns that into an error."""
    from recon.data import hdf5_guard

    monkeypatch.setattr(hdf5_guard, "PROBE_TIMEOUT_S", 1.0)
    folder = tmp_path / "files"
    folder.mkdir()
    path, read = _recon_hdf5(folder)
    original = path.read_bytes()
    rng = np.random.default_rng([0, list(FORMATS).index("recon-hdf5"), DAMAGES.index("flip")])
    for _ in range(case + 1):
        damaged = damage(original, "flip", rng)
    path.write_bytes(damaged)
    assert outcome(read, path, folder) == ""
