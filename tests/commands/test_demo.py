"""`recon demo` and `recon info` from the command line."""

from __future__ import annotations

import subprocess
import sys

from recon.cli import main


def test_demo_writes_the_figure_and_a_summary(tmp_path, capsys):
    output = tmp_path / "figures" / "demo.png"
    status = main(["demo", "--size", "33", "--angles", "20", "--detectors", "47", "--output", str(output)])
    assert status == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(output.parent.glob("*.part"))
    printed = capsys.readouterr().out
    assert "dot test" in printed and "sinogram (20, 47)" in printed


def test_bad_demo_arguments_give_one_line_and_status_2(tmp_path, capsys):
    status = main(["demo", "--size", "0", "--output", str(tmp_path / "x.png")])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "image_size" in error and "Traceback" not in error
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
