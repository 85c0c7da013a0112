"""`recon demo` and `recon info` from the command line."""

from __future__ import annotations

import subprocess
import sys

from recon.cli import main
from recon.commands.demo import default_methods
from recon.training.checkpoint import shipped_models


def test_demo_runs_the_main_job_and_writes_table_and_figure(tmp_path, capsys):
    output = tmp_path / "demo"
    status = main(["demo", "--samples", "2", "--methods", "fbp", "odl-fbp", "--output", str(output), "--quiet"])
    assert status == 0
    assert (output / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"results.csv", "summary.json", "summary.md"} <= {p.name for p in output.iterdir()}
    assert not list(output.rglob("*.part"))
    table = capsys.readouterr().out
    assert "| fbp |" in table and "| odl-fbp |" in table and "128x128 image, 360 angles, 183 bins" in table


def test_demo_runs_fbp_tv_the_odl_peer_and_every_shipped_model_by_default():
    methods = default_methods()
    assert methods[:3] == ["fbp", "tv", "odl-fbp"]
    assert set(shipped_models()) <= set(methods)


def test_bad_demo_arguments_give_one_line_and_status_2(tmp_path, capsys):
    status = main(["demo", "--samples", "0", "--output", str(tmp_path / "demo")])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--samples" in error and "Traceback" not in error
    assert not list(tmp_path.iterdir())


def test_info_runs(capsys):
    assert main(["info"]) == 0
    assert "astra-toolbox" in capsys.readouterr().out


def test_console_script_reports_usage_errors_with_status_2():
    result = subprocess.run(
        [sys.executable, "-m", "recon.cli", "no-such-command"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
