"""Renamed public names that keep working for one release, with a warning."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["renamed_names"]


def renamed_names(module: str, renamed: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that serves old names, each with a ``DeprecationWarning``.

    Parameters
    ----------
    module : str
        The module's name, for the messages (``"recon.models"``).
    renamed : dict of str to (str, object)
        Old name -> (new name, the object it now is).

    Examples
    --------
    >>> __getattr__ = renamed_names("recon.example", {"Old": ("New", int)})
    """

    def __getattr__(name: str) -> Any:
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, value = renamed[name]
        warnings.warn(f"{module}.{name} is now {module}.{new}; the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return value

    return __getattr__
