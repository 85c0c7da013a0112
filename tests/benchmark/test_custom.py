"""Methods of the user's own in the benchmark: module:function and file.py:function specs."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import torch

from recon.algorithms import fbp
from recon.benchmark import RunConfig, benchmark, build_method
from recon.benchmark.custom import split_custom
from recon.cli import main
from tests.benchmark.conftest import GEOMETRY

USER_METHODS = textwrap.dedent('''
    import torch
    from recon.algorithms import fbp

    def scaled_fbp(y, A, scale=1.0):
        """A method: (y, A, **params) -> x."""
        return scale * fbp(y, A)

    def make_zero(geometry, offset=0.0):
        """A factory: (geometry, **params) -> reconstructor."""
        return lambda y: torch.full((len(y), 1, *geometry.image_shape), float(offset))

    def wrong_shape(y, A):
        return torch.zeros(len(y), 1, 3, 3)

    def with_nan(y, A):
        return torch.full((len(y), 1, *A.geometry.image_shape), float("nan"))

    def raises(y, A):
        raise RuntimeError("the user's bug")
''')


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_methods.py"
    path.write_text(USER_METHODS)
    return path


def test_specs_that_name_a_function_are_told_from_classical_ones():
    assert split_custom("mypackage.methods:my_tv:weight=0.1") == ("mypackage.methods", "my_tv", "weight=0.1")
    assert split_custom("dir/file.py:f") == ("dir/file.py", "f", "")
    for spec in ("tv:weight=0.1", "fbp", "fbp:filter=hann,frequency_scaling=0.641", "lpd-small", "runs/best.safetensors"):
        assert split_custom(spec) is None, spec


def test_a_method_and_a_factory_from_a_file_run_with_their_parameters(user_file):
    y = torch.rand(2, 1, *GEOMETRY.sinogram_shape, generator=torch.Generator().manual_seed(0))
    method = build_method(f"{user_file}:scaled_fbp:scale=2.0", GEOMETRY)
    torch.testing.assert_close(method.reconstruct(y), 2.0 * fbp(y, build_method("fbp", GEOMETRY).reconstruct.operator))
    factory = build_method(f"{user_file}:make_zero:offset=0.5", GEOMETRY)
    assert torch.all(factory.reconstruct(y) == 0.5) and factory.name == f"{user_file}:make_zero:offset=0.5"
    assert method.key.startswith("custom:") and method.key != build_method(f"{user_file}:scaled_fbp", GEOMETRY).key


def test_a_method_from_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "user_pkg_for_recon.py").write_text(USER_METHODS)
    monkeypatch.syspath_prepend(str(tmp_path))
    method = build_method("user_pkg_for_recon:make_zero", GEOMETRY)
    assert method.reconstruct(torch.zeros(1, 1, *GEOMETRY.sinogram_shape)).shape == (1, 1, *GEOMETRY.image_shape)


@pytest.mark.parametrize("spec, message", [
    ("no/such/file.py:f", r"no/such/file.py: no such file"),
    ("no_such_module_for_recon:f", r"cannot import 'no_such_module_for_recon'"),
    ("{file}:missing", r"has no callable 'missing'"),
    ("{file}:scaled_fbp:bogus=1", r"unexpected keyword argument 'bogus'"),
])
def test_bad_custom_specs_are_refused_naming_the_spec(user_file, spec, message):
    with pytest.raises(ValueError, match=message):
        build_method(spec.format(file=user_file), GEOMETRY)


def test_a_custom_method_benchmarks_next_to_recons_rows(user_file, tmp_path, tiny_levels):
    outcome = benchmark(tiny_levels[:1], ["fbp", f"{user_file}:scaled_fbp:scale=1.0"],
                        RunConfig(output=tmp_path / "out", progress=False))
    rows = {result.method: result.rows for result in outcome.results}
    fbp_psnr = [row["psnr"] for row in rows["fbp"]]
    assert [row["psnr"] for row in rows[f"{user_file}:scaled_fbp:scale=1.0"]] == pytest.approx(fbp_psnr, abs=1e-4)


TINY = ["--samples", "2", "--image-size", "16", "--num-angles", "8", "--num-detectors", "23", "--quiet",
        "--examples", "0"]


def test_a_custom_method_of_the_wrong_shape_is_named_in_one_line_and_the_others_are_kept(user_file, tmp_path,
                                                                                        capsys):
    out = tmp_path / "out"
    assert main(["benchmark", "--output", str(out), *TINY, "--methods", "fbp", f"{user_file}:wrong_shape"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(r"my_methods.py:wrong_shape: expected reconstructions of shape",
                                                    err), err
    assert main(["benchmark", "--output", str(out), *TINY, "--methods", "fbp"]) == 0
    assert "reused finished results of fbp" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["methods"] == ["fbp"]


def test_a_custom_method_that_raises_is_named_in_one_line_and_the_others_are_kept(user_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["benchmark", "--output", str(out), *TINY, "--methods", "fbp", f"{user_file}:raises"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert re.search(r"my_methods.py:raises: failed on .*: RuntimeError: the user's bug", err), err
    assert main(["benchmark", "--output", str(out), *TINY, "--methods", "fbp"]) == 0
    assert "reused finished results of fbp" in capsys.readouterr().err


def test_a_custom_method_returning_nan_is_said_in_one_line_and_counted_in_the_table(user_file, tmp_path, capsys):
    assert main(["benchmark", "--output", str(tmp_path / "out"), *TINY, "--methods", "fbp",
                 f"{user_file}:with_nan"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"my_methods.py:with_nan: 2 of 2 reconstructions of .* hold NaN or inf", captured.err)
    row = next(line for line in captured.out.splitlines() if "with_nan" in line)
    assert "n/a" in row or "(0 of 2)" in row, row
