"""Which examples a benchmark figure shows, and its CT window."""

from __future__ import annotations

import pytest

import recon
from recon.benchmark import RunConfig, benchmark
from recon.benchmark.data import builtin_images
from recon.benchmark.runner import example_indices
from recon.cli import build_parser


def test_the_demos_three_examples_include_a_real_ct_slice():
    _, families = builtin_images(recon.Geometry.lodopab_small(), 8)  # what `recon demo` draws
    chosen = example_indices(families, RunConfig(output=".").examples, len(families))
    assert len(chosen) == 3 and "anatomy" in {families[i] for i in chosen}
    assert families[3] == "anatomy" and chosen == (0, 1, 3)  # the first real slice is the fourth sample


@pytest.mark.parametrize(("groups", "count", "expected"), [
    (None, 3, (0, 1, 2)),                                   # no labels: the first samples
    (["a", "a", "b", "anatomy", "b"], 2, (0, 3)),            # real CT first, then one of each other group
    (["a", "a", "b", "anatomy", "b"], 3, (0, 2, 3)),
    (["a", "a", "b", "anatomy", "b"], 5, (0, 1, 2, 3, 4)),
    (["a", "a", "a"], 2, (0, 1)),
    (["anatomy", "anatomy", "a"], 1, (0,)),
    (["a", "b"], 7, (0, 1)),                                  # never more than there are samples
    (["a", "b"], 0, ()),
])
def test_examples_take_a_real_ct_slice_and_one_of_each_group_before_repeating(groups, count, expected):
    assert example_indices(groups, count, len(groups or range(5))) == expected


def test_a_bad_window_is_refused_before_any_work(tmp_path, tiny_levels):
    with pytest.raises(ValueError, match="window"):
        benchmark(tiny_levels[:1], ["fbp"], RunConfig(output=tmp_path / "out", progress=False), window="liver")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["demo", "benchmark"])
def test_window_option_of_demo_and_benchmark(command, capsys):
    parser = build_parser()
    required = ["--output", "out"] if command == "benchmark" else []
    assert parser.parse_args([command, *required]).window == "soft"
    assert parser.parse_args([command, *required, "--window", "1500,-600"]).window == "1500,-600"
    with pytest.raises(SystemExit) as exit:
        parser.parse_args([command, *required, "--window", "liver"])
    assert exit.value.code == 2 and "--window" in capsys.readouterr().err


def test_the_figure_is_drawn_in_a_chosen_window(tmp_path, tiny_levels):
    outcome = benchmark(tiny_levels[:1], ["fbp"], RunConfig(output=tmp_path, examples=2, progress=False),
                        window="bone")
    assert (tmp_path / "examples.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "examples.png") in outcome.files.values()
