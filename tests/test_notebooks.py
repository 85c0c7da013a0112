"""The tutorials in ``notebooks/``: stored without outputs, and executed end to end at tiny sizes.

Each notebook reads ``RECON_NOTEBOOK_SIZE`` in its first code cell; ``tiny`` (set here) picks
toy geometries so that the five run in about a minute on two cores. They run in a fresh
``python3`` kernel (ipykernel of this environment) whose working directory is a temporary
folder, so their ``outputs/`` land there.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from recon.training.checkpoint import WEIGHTS_DIR

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = (
    "01_quickstart.ipynb",
    "02_geometry_and_operators.ipynb",
    "03_training_lpd.ipynb",
    "04_benchmarking.ipynb",
    "05_self_supervised.ipynb",
)
#: Notebooks that run the shipped ``lpd-small`` model, and its weights file.
NEEDS_SHIPPED_WEIGHTS = {"01_quickstart.ipynb"}
SHIPPED_WEIGHTS = WEIGHTS_DIR / "lpd-small.safetensors"
#: Seconds one notebook may take at tiny sizes (about 10-20 s on an idle 2-core machine).
NOTEBOOK_TIMEOUT = 300


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def test_every_tutorial_is_listed():
    assert sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_stripped(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    code_cells = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    dirty = [i for i, cell in code_cells if cell.outputs or cell.execution_count is not None]
    assert not dirty, (
        f"{name}: cells {dirty} hold outputs or execution counts; store notebooks stripped "
        f"(see notebooks/README.md)"
    )
    assert "RECON_NOTEBOOK_SIZE" in code_cells[0][1].source, (
        f"{name}: the first code cell should read RECON_NOTEBOOK_SIZE to pick tiny sizes under test"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_tiny_size(name, tmp_path, monkeypatch):
    if name in NEEDS_SHIPPED_WEIGHTS and not SHIPPED_WEIGHTS.is_file():
        pytest.skip(f"{name} runs the shipped model lpd-small, whose weights {SHIPPED_WEIGHTS} "
                    "are not installed yet")
    monkeypatch.setenv("RECON_NOTEBOOK_SIZE", "tiny")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread in the kernel, like the other tests
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # no user profile or startup files
    notebook = _read(name)
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT

    def check_deadline(cell, cell_index):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: still running after {NOTEBOOK_TIMEOUT} s, at cell {cell_index}")

    client = NotebookClient(notebook, timeout=NOTEBOOK_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}, on_cell_start=check_deadline)
    client.execute()
    figures = list((tmp_path / "outputs" / "notebooks" / Path(name).stem).glob("*.png"))
    assert figures, f"{name}: saved no figure under outputs/notebooks/"
