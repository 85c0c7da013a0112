"""Bridges to other libraries' operator frameworks.

* :mod:`recon.interop.deepinv`: recon operators as DeepInverse physics
  (``to_physics``) and DeepInverse's linear physics as recon operators
  (``from_physics``); it needs the ``deepinv`` extra
  (``pip install -e ".[deepinv]"``).

ODL has its own bridge, :mod:`recon.operators.odl_bridge`, beside the operators.
This module holds the one way recon imports DeepInverse (:func:`import_deepinv`),
which the benchmark's ``deepinv-fbp`` row and ``benchmarks/`` use as well.
"""

from __future__ import annotations

import sys

import torch

__all__ = ["DEEPINV_INSTALL", "deepinv_available", "import_deepinv"]

#: What to run when deepinv is missing: the extra pins a deepinv and a torchvision that import beside
#: recon's CPU torch (2.13.0; ``torchvision==0.28.0`` is built for it).
DEEPINV_INSTALL = "pip install -e \".[deepinv]\" (deepinv==0.5.0 and torchvision==0.28.0, the build for torch 2.13)"


def import_deepinv():
    """The ``deepinv`` module, importing it with CPU builds of torch as well.

    DeepInverse pulls in torchvision, whose compiled operators exist only
    for CUDA builds of torch: with a CPU torch, ``import torchvision`` stops
    at ``register_fake("torchvision::nms")`` because ``nms`` / ``qnms`` were
    never defined. On that error this defines schema-only stubs for the two
    operators (no kernel: calling them would raise; nothing recon reaches in
    deepinv calls them) and imports again. Reinstalling torchvision does
    not help there: every torchvision wheel for a CPU torch 2.13 from PyPI is built this way.

    Raises
    ------
    ImportError
        One line: deepinv is not installed (and :data:`DEEPINV_INSTALL`), or it
        fails to import even with the stubs (the reason).
    """
    try:
        import deepinv

        return deepinv
    except ImportError as error:
        if error.name not in ("deepinv", "torchvision"):
            raise ImportError(f"deepinv is installed but does not import ({error})") from None
        raise ImportError(f"DeepInverse is not installed here: {DEEPINV_INSTALL}") from None
    except Exception as error:  # noqa: BLE001 - a broken install raises anything
        if "torchvision::" not in str(error):
            raise ImportError(f"deepinv is installed but does not import ({type(error).__name__}: {error})") from None
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "deepinv")]:
        del sys.modules[name]
    _define_torchvision_stubs()
    try:
        import deepinv
    except Exception as error:  # noqa: BLE001
        raise ImportError(f"deepinv does not import even with torchvision's nms/qnms defined "
                          f"({type(error).__name__}: {error})") from None
    return deepinv


_STUBS: list = []  # the Library object must stay alive for its definitions to last


def _define_torchvision_stubs() -> None:
    """Schema-only ``torchvision::nms`` and ``torchvision::qnms`` (see :func:`import_deepinv`)."""
    if _STUBS:
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        try:
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:
            pass  # already defined
    _STUBS.append(library)


def deepinv_available() -> bool:
    """Whether :func:`import_deepinv` succeeds."""
    try:
        import_deepinv()
    except ImportError:
        return False
    return True
