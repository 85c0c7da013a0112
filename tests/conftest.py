"""Shared fixtures: tiny odd geometries and a CPU/CUDA device fixture."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch


def cuda_usable() -> bool:
    """A CUDA GPU is visible to torch and the installed ASTRA was built with CUDA."""
    if not torch.cuda.is_available():
        return False
    import astra

    return bool(astra.use_cuda())


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request) -> torch.device:
    """Every test taking ``device`` runs on the CPU and, where usable, on CUDA."""
    if request.param == "cuda" and not cuda_usable():
        pytest.skip("needs a CUDA GPU and a CUDA-enabled astra-toolbox")
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _private_matrix_cache(tmp_path_factory, monkeypatch):
    """Sparse system matrices are cached in a per-session temporary folder."""
    monkeypatch.setenv("RECON_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "recon-cache"))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests run torch on one intra-op thread: tiny kernels are several times faster that way
    when other jobs share the two cores (two OpenMP threads end up waiting for each other)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def cli_error(capsys):
    """``cli_error(argv, *texts, status=2)``: run ``recon.cli.main(argv)`` and assert it failed.

    It must return ``status`` and print exactly one line on stderr, without a
    traceback, holding every one of ``texts``; the line is returned.
    """
    from recon.cli import main

    def run(argv, *texts: str, status: int = 2) -> str:
        capsys.readouterr()
        assert main([str(arg) for arg in argv]) == status
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "Traceback" not in error, error
        for text in texts:
            assert text in error, error
        return error

    return run


#: A process holding the lock of the folder given as its argument until its stdin closes.
_HOLDER = ("import sys; from recon.files import output_folder\n"
           "with output_folder(sys.argv[1]):\n"
           "    print('locked', flush=True); sys.stdin.read()\n")


@pytest.fixture
def holder():
    """``holder(folder)``: another process holding ``folder``'s lock until the test ends; returns it."""
    processes = []

    def start(folder):
        process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline() == "locked\n"
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.stdin.close()
        process.wait(timeout=30)


@pytest.fixture
def dead_pid() -> int:
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
