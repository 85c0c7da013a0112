"""recon iq: task-based image quality of methods on the QA phantoms, through the CLI and the Python API."""

from __future__ import annotations

import csv
import json
import math

import pytest

from recon.cli import main
from recon.geometry import Geometry

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
                                                      "parts", "ttf.png"]
    assert len(list((run / "parts").rglob("*.json"))) == 4  # one per method and dose, for resuming
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


def test_ttf50_has_a_bootstrap_interval_around_it(run):
    values = [ttf for dose in json.loads((run / "iq.json").read_text())["doses"] for row in dose["methods"].values()
              for ttf in row["ttf"].values()]
    finite = [ttf for ttf in values if all(math.isfinite(v) for v in (ttf["f50"], *ttf["f50_interval"]))]
    assert finite and all(ttf["f50_interval"][0] <= ttf["f50"] <= ttf["f50_interval"][1] for ttf in finite)


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


def test_a_field_that_does_not_hold_the_phantoms_is_one_line_and_status_2(tmp_path, cli_error):
    """A 10 cm field cannot hold the 20 cm cylinder: refused before anything is simulated or written."""
    small_field = tmp_path / "small_field.json"
    small_field.write_text(Geometry.parallel(image_size=48, num_angles=40, num_detectors=69,
                                             half_extent=0.05).to_json())
    cli_error(["iq", "--methods", "fbp", "--geometry", small_field, "--realisations", "20", "--quiet",
               "--output", tmp_path / "out"],
              "water cylinder: expected inside the image field x in [-50.0, 50.0] mm, y in [-50.0, 50.0] mm, got "
              "[-100.0, 100.0] x [-100.0, 100.0] mm")
    assert not (tmp_path / "out").exists()


def test_a_file_as_output_is_refused(tmp_path, cli_error):
    (tmp_path / "out").write_text("not a folder")
    cli_error(["iq", "--methods", "fbp", *TINY, "--output", tmp_path / "out"], "expected a folder, got a file")
    assert (tmp_path / "out").read_text() == "not a folder"


def test_an_interrupted_run_resumes_with_its_finished_methods(tmp_path, capsys):
    """Ctrl-C in the second method keeps the first one's part; the rerun reuses it and equals a fresh run."""
    module = tmp_path / "interrupts.py"
    marker = tmp_path / "interrupted"
    module.write_text("from pathlib import Path\nimport recon\n\n"
                      "def reconstruct(y, A):\n"
                      f"    if not Path({str(marker)!r}).exists():\n"
                      f"        Path({str(marker)!r}).touch()\n"
                      "        raise KeyboardInterrupt\n"
                      "    return recon.fbp(y, A)\n")
    methods = ["--methods", "fbp", f"{module}:reconstruct"]
    output = tmp_path / "out"
    assert main(["iq", *methods, *TINY, "--output", str(output)]) == 130  # interrupted
    assert not (output / "iq.json").exists()  # no result files of a run that did not finish
    parts = sorted(path.relative_to(output) for path in (output / "parts").rglob("*.json"))
    assert len(parts) == 1 and parts[0].name.startswith("fbp-")
    stamp = (output / parts[0]).stat().st_mtime_ns
    capsys.readouterr()
    tiny = [argument for argument in TINY if argument != "--quiet"]
    assert main(["iq", *methods, *tiny, "--output", str(output)]) == 0
    err = capsys.readouterr().err
    assert "fbp at 4096 photons: finished before, reused" in err
    assert (output / parts[0]).stat().st_mtime_ns == stamp
    assert main(["iq", *methods, *TINY, "--output", str(tmp_path / "fresh")]) == 0
    resumed, fresh = (json.loads((folder / "iq.json").read_text())["doses"] for folder in (output, tmp_path / "fresh"))
    assert resumed == fresh


def test_fresh_recomputes_and_other_settings_are_not_reused(tmp_path, capsys):
    output = tmp_path / "out"
    assert main(["iq", "--methods", "fbp", *TINY, "--output", str(output)]) == 0
    tiny = [argument for argument in TINY if argument != "--quiet"]
    for extra in (["--fresh"], ["--seed", "1"]):
        capsys.readouterr()
        assert main(["iq", "--methods", "fbp", *tiny, *extra, "--output", str(output)]) == 0
        assert "reused" not in capsys.readouterr().err
