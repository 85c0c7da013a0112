"""Methods of your own in a benchmark: specs ``module:function`` or ``path/to/file.py:function``.

The named object is either

* a **method** ``f(y, A, **params) -> x`` (two or more positional
  parameters), like recon's classical ones: sinograms ``y`` (B, 1, A, D),
  the data's :class:`~recon.RayTransform` ``A``, images ``x`` (B, 1, nx, ny);
* or a **factory** ``f(geometry, **params) -> reconstructor`` (one positional
  parameter), whose result is called as ``reconstructor(y) -> x`` (a
  :class:`recon.Reconstructor`, a model, any callable).

Parameters follow as in other specs: ``mymodule:my_tv:weight=0.1,iterations=50``.
The benchmark checks every result's shape and values and names the method
when they are wrong; a method's finished results are kept when a later one
fails. Importing the module runs its code: name only modules you trust.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from recon.geometry import Geometry
from recon.operators.ray_transform import CpuBackend, RayTransform

__all__ = ["build_custom", "is_custom", "split_custom"]


def split_custom(spec: str) -> tuple[str, str, str] | None:
    """``(target, attribute, parameter text)`` of a custom spec, or None if ``spec`` is not one.

    ``target`` is a ``.py`` file or a dotted module name; ``attribute`` an identifier.

    Examples
    --------
    >>> split_custom("mypackage.methods:my_tv:weight=0.1")
    ('mypackage.methods', 'my_tv', 'weight=0.1')
    >>> split_custom("tv:weight=0.1") is None
    True
    """
    target, sep, rest = spec.partition(":")
    attribute, _, params = rest.partition(":")
    target, attribute = target.strip(), attribute.strip()
    if not sep or not attribute.isidentifier():
        return None
    is_module = all(part.isidentifier() for part in target.split("."))
    return (target, attribute, params) if target.endswith(".py") or is_module else None


def is_custom(spec: str) -> bool:
    """Whether ``spec`` names a method of the user's (see the module documentation)."""
    return split_custom(spec) is not None


def _load(target: str, spec: str):
    """The module of ``target`` (a file path or a module name), with a content hash of its source."""
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"method {spec!r}: {path}: no such file")
        module_spec = importlib.util.spec_from_file_location(f"recon_custom_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise ValueError(f"method {spec!r}: cannot import {target!r} ({error})") from None
    source = Path(getattr(module, "__file__", "") or "")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16] if source.is_file() else "no-file"
    return module, digest


def build_custom(spec: str, geometry: Geometry, params: dict[str, Any], *, operator: RayTransform | None = None,
                 cpu_backend: CpuBackend = "threads") -> tuple[Callable[[Tensor], Tensor], str]:
    """The reconstruct function of a custom spec and its resume key (which changes with the module's source).

    Raises
    ------
    ValueError
        A missing file, module or attribute, something not callable, or
        parameters it does not accept; the message names the spec.
    """
    target, attribute, _ = split_custom(spec)
    module, digest = _load(target, spec)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"method {spec!r}: {target} has no callable {attribute!r}")
    signature = inspect.signature(function)
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    key = f"custom:{spec}:{digest}"
    try:
        if len(positional) >= 2:
            A = operator if operator is not None else RayTransform(geometry, cpu_backend=cpu_backend)
            signature.bind(None, A, **params)
            return (lambda y: function(y, A, **params)), key
        signature.bind(geometry, **params)
    except TypeError as error:
        raise ValueError(f"method {spec!r}: {error}") from None
    return function(geometry, **params), key
