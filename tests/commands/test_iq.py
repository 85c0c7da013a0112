"""recon iq: task-based image quality of methods on the QA phantoms, through the CLI and the Python API."""

from __future__ import annotations

import csv
import json

import pytest

from recon.cli import main

#: A tiny parallel geometry, 20 realisations (the CHO's minimum for 5 channels) and a short TV.
TINY = ["--geometry", "parallel", "--image-size", "48", "--num-angles", "40", "--num-detectors", "69",
        "--realisations", "20", "--channels", "5", "--bootstrap", "50", "--quiet"]
METHODS = ["--methods", "fbp", "tv:iterations=15"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The command at 4096 and 1024 photons with fbp and TV, its output folder and stdout."""
    output = tmp_path_factory.mktemp("iq") / "out"
    assert main(["iq", *METHODS, "--photons", "4096", "1024", *TINY, "--output", str(output)]) == 0
    return output


def test_every_file_is_written_and_they_agree(run):
    assert sorted(p.name for p in run.iterdir()) == ["detectability.png", "iq.csv", "iq.json", "iq.md", "nps.png",
                                                      "ttf.png"]
    result = json.loads((run / "iq.json").read_text())
    assert [dose["photons"] for dose in result["doses"]] == [4096, 1024]
    rows = list(csv.DictReader((run / "iq.csv").open()))
    assert [(float(r["photons"]), r["method"]) for r in rows] == [(4096, "fbp"), (4096, "tv:iterations=15"),
                                                                 (1024, "fbp"), (1024, "tv:iterations=15")]
    table = (run / "iq.md").read_text()
    for row, dose in zip(rows, [d for d in result["doses"] for _ in range(2)]):
        measured = dose["methods"][row["method"]]
        assert float(row["noise_hu"]) == pytest.approx(measured["noise_hu"])
        assert f"| {row['method']} | {measured['noise_hu']:.1f} |" in table


def test_noise_follows_the_dose_and_tv_is_less_noisy_than_fbp(run):
    doses = {dose["photons"]: dose["methods"] for dose in json.loads((run / "iq.json").read_text())["doses"]}
    fbp_ratio = doses[1024]["fbp"]["noise_hu"] / doses[4096]["fbp"]["noise_hu"]
    assert fbp_ratio == pytest.approx(2.0, rel=0.15)  # a quarter of the photons: twice the noise
    for dose in doses.values():
        assert dose["tv:iterations=15"]["noise_hu"] < dose["fbp"]["noise_hu"]
        assert dose["fbp"]["ttf"] and dose["fbp"]["detectability"] and dose["fbp"]["ct_numbers"]


def test_the_same_seed_gives_the_same_numbers(tmp_path):
    outputs = [tmp_path / "a", tmp_path / "b"]
    for output in outputs:
        assert main(["iq", "--methods", "fbp", *TINY, "--output", str(output)]) == 0
    first, second = (json.loads((o / "iq.json").read_text()) for o in outputs)
    for result in (first, second):
        result["arguments"].pop("output", None)
    assert first == second


def test_a_failing_method_is_one_line_and_the_others_are_kept(tmp_path, capsys):
    module = tmp_path / "broken.py"
    module.write_text("def reconstruct(y, A):\n    raise RuntimeError('my method broke')\n")
    output = tmp_path / "out"
    assert main(["iq", "--methods", "fbp", f"{module}:reconstruct", *TINY, "--output", str(output)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "reconstruct" in errors[0] and "my method broke" in errors[0]
    result = json.loads((output / "iq.json").read_text())
    assert list(result["doses"][0]["methods"]) == ["fbp"]


@pytest.mark.parametrize("arguments, text", [
    (["--photons", "0"], "--photons: expected positive photon counts, got 0"),
    (["--realisations", "12"], "--realisations: the CHO with 5 channels needs at least 20"),
    (["--methods", "nosuch"], "unknown method 'nosuch'"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, cli_error, arguments, text):
    argv = ["iq", *METHODS, *TINY, "--output", tmp_path / "out", *arguments]
    cli_error(argv, text)
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_refused_without_overwrite(tmp_path, cli_error):
    (tmp_path / "out").mkdir()
    cli_error(["iq", "--methods", "fbp", *TINY, "--output", tmp_path / "out"], "exists (pass --overwrite")
