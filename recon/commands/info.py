"""Print the versions of recon and its libraries and the backends usable here."""

from __future__ import annotations

import argparse
import platform


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``recon info`` takes no arguments."""


def run(args: argparse.Namespace) -> int:
    import astra
    import torch

    import recon

    print(f"recon          {recon.__version__}")
    print(f"python         {platform.python_version()}")
    print(f"torch          {torch.__version__}")
    print(f"astra-toolbox  {astra.__version__}")
    cuda = torch.cuda.is_available() and astra.use_cuda()
    print(f"CPU backends   astra_cpu (threads), sparse")
    print(f"CUDA backend   {'available' if cuda else 'unavailable (no GPU or no CUDA-enabled ASTRA)'}")
    return 0
