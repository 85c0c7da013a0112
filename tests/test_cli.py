"""The ``recon`` command's error policy: user errors in one line (status 2), bugs in one line (status 1).

Every subcommand gets a battery of bad arguments; each must end with exit
status 2, exactly one line on stderr, no traceback and nothing left on disk.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import yaml

from recon import cli

SIMULATE = ["--image-size", "15", "--num-angles", "8", "--num-detectors", "21", "--factor", "2", "--samples", "3",
            "--quiet"]
BENCHMARK = ["--image-size", "13", "--num-angles", "7", "--num-detectors", "19", "--samples", "2", "--quiet",
             "--methods", "fbp"]
DEMO = ["--samples", "1", "--methods", "fbp", "--quiet"]

#: command -> (arguments, text the error line must hold); {tmp} is the test's folder, which holds
#: a file ``file``, a config ``good.yaml``, an empty ``empty.yaml`` and a binary ``binary.yaml``.
BATTERY = {
    "recon": [([], "the following arguments are required: COMMAND"),
              (["nosuch"], "invalid choice: 'nosuch'")],
    "demo": [(["--samples", "0"], "--samples: expected a positive"),
             (["--samples", "x"], "--samples: invalid int value: 'x'"),
             ([*DEMO, "--output", "{tmp}/file"], "{tmp}/file: expected an output folder, got a file"),
             (["--samples", "1", "--methods", "nosuch", "--output", "{tmp}/out"], "unknown method 'nosuch'"),
             (["--bogus"], "unrecognized arguments: --bogus")],
    "info": [(["--bogus"], "unrecognized arguments: --bogus"),
             (["extra"], "unrecognized arguments: extra")],
    "simulate": [([], "the following arguments are required: output"),
                 (["{tmp}/out", *SIMULATE, "--photons", "0"], "--photons: expected a finite number > 0"),
                 (["{tmp}/out", *SIMULATE, "--splits", "1,2"], "--splits: expected three"),
                 (["{tmp}/out", *SIMULATE, "--batch-size", "0"], "--batch-size: expected >= 1, got 0"),
                 (["{tmp}/out", *SIMULATE, "--samples", "-1"], "--samples: expected a positive count, got -1"),
                 (["{tmp}/out", *SIMULATE, "--factor", "x"], "expected a number such as 2"),
                 (["{tmp}/out", *SIMULATE, "--phantom", "nosuch"], "invalid choice: 'nosuch'"),
                 (["{tmp}/out", *SIMULATE, "--dicom", "{tmp}/missing"], "{tmp}/missing"),
                 (["{tmp}/file", *SIMULATE], "{tmp}/file: expected an output folder, got a file"),
                 (["{tmp}/file/out", *SIMULATE], "{tmp}/file/out: expected an output folder, got a path through")],
    "train": [([], "the following arguments are required: --config"),
              (["--config", "{tmp}/missing.yaml"], "{tmp}/missing.yaml: no such config file"),
              (["--config", "{tmp}/empty.yaml"], "{tmp}/empty.yaml: expected a YAML mapping of config keys"),
              (["--config", "{tmp}/binary.yaml"], "{tmp}/binary.yaml: expected a YAML config in UTF-8 text"),
              (["--config", "{tmp}/good.yaml", "--set", "epochs"], "--set: expected key=value"),
              (["--config", "{tmp}/good.yaml", "--set", "bogus=1"], "{tmp}/good.yaml: config: unknown keys ['bogus']"),
              (["--config", "{tmp}/good.yaml", "--resume"], "{tmp}/out/state.pt: no training state to resume"),
              (["--config", "{tmp}/good.yaml", "--set", "output_dir={tmp}/file"],
               "{tmp}/file: expected a folder as output_dir, got a file")],
    "benchmark": [([], "the following arguments are required: --output"),
                  (["--output", "{tmp}/file", *BENCHMARK], "{tmp}/file: expected an output folder, got a file"),
                  (["--output", "{tmp}/out", *BENCHMARK, "nosuch"], "unknown method 'nosuch'"),
                  (["--output", "{tmp}/out", "--data", "{tmp}/missing.h5"], "{tmp}/missing.h5: no such file"),
                  (["--output", "{tmp}/out", "--data", "{tmp}/file"], "{tmp}/file"),
                  (["--output", "{tmp}/out", *BENCHMARK, "fbp:bogus"], "expected parameters as key=value"),
                  (["--output", "{tmp}/out", "--methods", "./nosuch.safetensors"], "no such checkpoint file")],
}
CASES = [pytest.param(command, arguments, text, id=f"{command}:{' '.join(arguments)[:60]}")
         for command, cases in BATTERY.items() for arguments, text in cases]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """``tmp_path`` with the files the battery refers to, as the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "binary.yaml").write_bytes(b"model: lpd\n\xff\xfe\x00")
    (tmp_path / "good.yaml").write_text(yaml.safe_dump({
        "model": "dncnn", "model_args": {"depth": 2, "channels": 2},
        "geometry": {"preset": "parallel", "image_size": 13, "num_angles": 7, "num_detectors": 19},
        "data": {"train_samples": 4, "validation_samples": 2}, "epochs": 1, "batch_size": 2,
        "device": "cpu", "progress": False, "output_dir": str(tmp_path / "out")}))
    return tmp_path


def _listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("command, arguments, text", CASES)
def test_bad_arguments_are_one_line_and_status_2(workspace, cli_error, command, arguments, text):
    before = _listing(workspace)
    argv = [arg.format(tmp=workspace) for arg in arguments]
    line = cli_error(argv if command == "recon" else [command, *argv], text.format(tmp=workspace))
    assert line.startswith("recon")
    assert _listing(workspace) == before  # no output folder, lock or partial file left behind


def test_a_bug_is_one_line_with_status_1_and_says_how_to_see_the_traceback(monkeypatch, cli_error):
    import recon.commands.info as info

    monkeypatch.setattr(info, "run", lambda args: {}["missing"])
    monkeypatch.delenv(cli.DEBUG_VARIABLE, raising=False)
    cli_error(["info"], "recon info: internal error: KeyError: 'missing'", "recon --debug info", status=1)


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_debug_re_raises_with_the_traceback(monkeypatch, how):
    import recon.commands.info as info

    monkeypatch.setattr(info, "run", lambda args: {}["missing"])
    if how == "variable":
        monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(KeyError, match="missing"):
        cli.main(["--debug", "info"] if how == "flag" else ["info"])


@pytest.mark.parametrize("command, arguments", [
    ("simulate", ["{out}", *SIMULATE]),
    ("benchmark", ["--output", "{out}", *BENCHMARK]),
    ("demo", [*DEMO, "--output", "{out}"]),
])
def test_a_read_only_output_is_a_user_error(tmp_path, monkeypatch, cli_error, command, arguments):
    output = tmp_path / "read-only" / "out"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "read-only")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    cli_error([command, *[arg.format(out=output) for arg in arguments]],
              f"{output}: expected a writable file or folder, got: Read-only file system")
    assert list(tmp_path.iterdir()) == []


def test_user_errors_are_the_fixable_ones():
    assert cli.is_user_error(OSError(errno.ENOSPC, "No space left on device", "out/train.h5"))
    assert cli.is_user_error(OSError(errno.EACCES, "Permission denied"))
    assert not cli.is_user_error(OSError(errno.EIO, "Input/output error"))
    assert not cli.is_user_error(KeyError("x")) and not cli.is_user_error(RuntimeError("x"))


def test_simulate_removes_the_temporary_files_of_a_killed_run(tmp_path, dead_pid, caplog):
    output = tmp_path / "out"
    output.mkdir()
    orphan = output / f".train.h5.{dead_pid}.part"
    orphan.write_bytes(bytes(1000))
    assert cli.main(["simulate", str(output), *SIMULATE]) == 0
    assert [p.name for p in output.iterdir()] == ["train.h5"]
    assert f"removed 1 temporary file(s) of runs that were killed: {orphan.name}" in caplog.text


def test_train_simulate_and_demo_refuse_an_output_folder_in_use(workspace, cli_error, holder):
    process = holder(workspace / "out")
    for argv in (["train", "--config", workspace / "good.yaml"], ["simulate", workspace / "out", *SIMULATE],
                 ["demo", *DEMO, "--output", workspace / "out"]):
        cli_error(argv, f"{workspace / 'out'}: expected an output folder no other run is using",
                  f"in use by process {process.pid}")
    assert [p.name for p in (workspace / "out").iterdir()] == [".recon.lock"]
