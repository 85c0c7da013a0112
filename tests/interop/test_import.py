"""recon.interop.import_deepinv: the one way recon imports DeepInverse, with a CPU torch as well."""

from __future__ import annotations

import builtins
import sys
import types

import pytest

from recon import interop


@pytest.fixture
def fake_imports(monkeypatch):
    """Replace ``import deepinv`` by ``behaviour(attempt)``; deepinv's and torchvision's modules are restored after."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "deepinv")]:
        monkeypatch.setitem(sys.modules, name, sys.modules[name])  # import_deepinv deletes them before retrying
    monkeypatch.setattr(interop, "_STUBS", [])
    real_import, attempts = builtins.__import__, []

    def install(behaviour):
        def importer(name, *args, **kwargs):
            if name == "deepinv":
                attempts.append(name)
                return behaviour(len(attempts))
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", importer)
        return attempts

    return install


def test_torchvisions_missing_operators_are_defined_and_the_import_retried(fake_imports):
    """With a CPU torch, torchvision's import stops at ``register_fake("torchvision::nms")``."""
    fake = types.ModuleType("deepinv")

    def behaviour(attempt):
        if attempt == 1:
            raise RuntimeError("operator torchvision::nms does not exist")
        return fake

    attempts = fake_imports(behaviour)
    assert interop.import_deepinv() is fake and len(attempts) == 2 and len(interop._STUBS) == 1


def test_a_broken_install_says_why(fake_imports):
    fake_imports(lambda attempt: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(ImportError, match=r"^deepinv is installed but does not import \(RuntimeError: boom\)$"):
        interop.import_deepinv()
    assert not interop.deepinv_available()


def test_a_missing_deepinv_says_what_to_install(fake_imports):
    fake_imports(lambda attempt: (_ for _ in ()).throw(ModuleNotFoundError("No module named 'deepinv'", name="deepinv")))
    with pytest.raises(ImportError, match=r'DeepInverse is not installed here: pip install -e "\.\[deepinv\]" '
                                          r"\(deepinv==0\.5\.0 and torchvision==0\.28\.0"):
        interop.import_deepinv()


def test_the_extra_pins_what_the_message_names():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    pins = project["optional-dependencies"]["deepinv"]
    assert pins and all(pin in interop.DEEPINV_INSTALL for pin in pins)
    assert "recon[deepinv]" in project["optional-dependencies"]["test"]
