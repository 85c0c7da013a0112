"""Every command and snippet of README.md runs as written, from a fresh clone.

The ```` ```bash ```` and ```` ```python ```` blocks of the README are run in the
order they appear, each in its own process, in one temporary working folder
that looks like a fresh clone (the repository's tracked top-level entries,
linked): a later block may use the files an earlier one wrote, as a reader
following the README would (``data/train.h5`` of ``recon simulate``,
``outputs/lpd_small`` of ``recon train``). Python blocks run with this
environment's interpreter (so each must define every name it uses); bash
blocks run under ``bash -euo pipefail`` with this environment's ``bin/`` first
on ``PATH``, so ``recon`` is its console script.

A block preceded by an HTML comment ``<!-- no-test: reason -->`` is not run
(the environment set-up commands at the top, GPU-only or hour-long commands,
paths to data a reader brings: LoDoPaB-CT, a DICOM series). Blocks in other
languages (``text``) are not commands. Commands that take minutes as written
are made cheap by the explicit table :data:`SUBSTITUTIONS` (fewer samples,
steps, iterations), applied to the block's text before it runs; each entry must
still match the README, so the table cannot silently go stale. The whole file
takes about three minutes on two cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: (text in the README, replacement under test, why): commands made cheap, each applied to every
#: runnable block in which the text occurs.
SUBSTITUTIONS: tuple[tuple[str, str, str], ...] = (
    ("--samples 1000 ", "--samples 4 ", "simulation: 4 instead of 1000 ellipse pairs"),
    ("--geometry lodopab --samples 10", "--geometry lodopab --samples 1", "one LoDoPaB-size pair instead of 10"),
    ("--samples 100 ", "--samples 4 ", "a dose range over 4 instead of 100 pairs"),
    ("--samples 11520 ", "--samples 4 ", "training data: 4 instead of 11520 pairs"),
    ("--samples 64 ", "--samples 2 ", "validation data: 2 instead of 64 pairs"),
    ("--set epochs=5 --set data.train_samples=256",
     "--set epochs=1 --set data.train_samples=4 --set model_args.iterations=2",
     "training: one epoch of 4 samples of a 2-iteration LPD"),
    ("x = torch.rand(8, 1, 362, 362)", "x = torch.rand(2, 1, 362, 362)", "ray transform: a batch of 2"),
    ("iterations=100", "iterations=5", "SIRT and Landweber: 5 iterations"),
    ("iterations=30", "iterations=5", "CGLS: 5 iterations"),
    ("recon.tv(y, A) ", "recon.tv(y, A, iterations=5) ", "TV: 5 iterations"),
    ('data_term="ls", weight=5e-5)', 'data_term="ls", weight=5e-5, iterations=5)', "least-squares TV: 5 iterations"),
    ('select_parameter(BoundMethod("tv", A, {"data_term": "wls"})',
     'select_parameter(BoundMethod("tv", A, {"data_term": "wls", "iterations": 5})',
     "TV's weight search: 5 iterations per weight"),
    ("--methods fbp tv odl-fbp --samples 16", "--methods fbp tv:iterations=5 odl-fbp --samples 2",
     "benchmark: 2 instead of 16 images, TV at 5 iterations"),
    ('builtin_data(g, 4, photons=[4096, 1024])', 'builtin_data(g, 2, photons=[4096, 1024])',
     "benchmark from Python: 2 images per dose"),
    ('["fbp", "tv"], RunConfig', '["fbp", "tv:iterations=5"], RunConfig', "benchmark from Python: TV at 5 iterations"),
    ("from recon.benchmark import Protocol, Target, run_protocol",
     "from recon.benchmark import ImageSet, Protocol, Target, TvGrid, run_protocol", "names of the smaller protocol"),
    ("geometry=PRESET,", "geometry=PRESET, test=ImageSet(blocks=(('shepp-logan', 1), ('anatomy', 1)), seed=100), "
     "validation=ImageSet(blocks=(('pelvis', 1),), seed=200), tv_grid=TvGrid(ls=(5e-5,), iterations=10),",
     "protocol: 2 test images, 1 validation image, one TV weight at 10 iterations"),
)

NO_TEST = re.compile(r"<!--\s*no-test:\s*(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
RUNNABLE = ("bash", "python")
#: Seconds one block may take (the slowest, the protocol and the training example, take about 30 s).
BLOCK_TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README.

    Attributes
    ----------
    language : str
        The fence's info string (``bash``, ``python``, ``text``, ``""``).
    code : str
        The block's text.
    line : int
        Line of the opening fence, 1-based.
    skip : str or None
        The reason of a ``<!-- no-test: reason -->`` comment right before it.
    """

    language: str
    code: str
    line: int
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.language}-line{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order.

    Parameters
    ----------
    text : str
        Markdown.

    Returns
    -------
    list of Block
        Each with the reason of a ``no-test`` comment on the last non-blank
        line before its opening fence.

    Raises
    ------
    ValueError
        A fence that is never closed.
    """
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        marker = NO_TEST.search(before)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"README.md line {i + 1}: a code block that is never closed")
        blocks.append(Block(fence["language"], "\n".join(lines[i + 1:end]) + "\n", i + 1,
                            marker["reason"] if marker else None))
        i = end + 1
    return blocks


def prepared(code: str) -> str:
    """``code`` with every applicable entry of :data:`SUBSTITUTIONS` applied."""
    for old, new, _ in SUBSTITUTIONS:
        code = code.replace(old, new)
    return code


BLOCKS = readme_blocks(README.read_text())
TESTED = [block for block in BLOCKS if block.language in RUNNABLE and block.skip is None]


def _tracked_top_level() -> list[str]:
    """The top-level names of the repository's tracked files (all non-hidden entries without git)."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        names = {entry.split("/", 1)[0] for entry in listing.decode().split("\0") if entry}
    except (OSError, subprocess.CalledProcessError):
        names = {path.name for path in ROOT.iterdir() if not path.name.startswith(".")}
    return sorted(names - {"outputs"})


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A working folder that looks like a fresh clone: the tracked top-level entries, linked."""
    folder = tmp_path_factory.mktemp("readme")
    for name in _tracked_top_level():
        (folder / name).symlink_to(ROOT / name)
    return folder


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["MPLBACKEND"] = "Agg"
    return environment


def test_the_readme_has_runnable_blocks_and_only_known_languages():
    assert len(TESTED) >= 15
    assert {block.language for block in BLOCKS} <= {*RUNNABLE, "text"}, "a block in an unknown language"


def test_blocks_not_tested_are_few_and_say_why():
    skipped = [block for block in BLOCKS if block.skip is not None]
    assert all(block.language in RUNNABLE for block in skipped)
    assert all(len(block.skip) > 10 for block in skipped)
    assert len(skipped) <= 8, [block.name for block in skipped]


@pytest.mark.parametrize(("old", "new", "why"), SUBSTITUTIONS, ids=[why for *_, why in SUBSTITUTIONS])
def test_every_substitution_still_matches_a_tested_block(old, new, why):
    assert any(old in block.code for block in TESTED), f"{old!r} ({why}) is in no tested block"


def test_the_demo_duration_agrees_with_its_help():
    from recon.commands import demo

    duration = re.compile(r"about (\w+ minutes?) on 2 CPU cores")
    readme = duration.search(README.read_text().split("## Geometry")[0])
    assert readme and duration.search(demo.__doc__)[1] == readme[1]


@pytest.mark.slow
@pytest.mark.parametrize("block", TESTED, ids=[block.name for block in TESTED])
def test_readme_block_runs(block, clone):
    code = prepared(block.code)
    script = clone / f"{block.name}.{'py' if block.language == 'python' else 'sh'}"
    script.write_text(code)
    command = [sys.executable, str(script)] if block.language == "python" else ["bash", "-euo", "pipefail",
                                                                                 str(script)]
    result = subprocess.run(command, cwd=clone, env=_environment(), capture_output=True, text=True,
                            timeout=BLOCK_TIMEOUT)
    assert result.returncode == 0, (f"README.md block at line {block.line} failed (status {result.returncode}):\n"
                                    f"{code}\n--- stderr ---\n{result.stderr[-3000:]}")
