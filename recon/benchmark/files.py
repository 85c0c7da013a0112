"""Atomic output files of a benchmark run and their names."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from recon.files import atomic_path

__all__ = ["file_slug", "read_part", "write_array", "write_json", "write_text"]


def file_slug(name: str) -> str:
    """A file-name-safe stem for a method or data name, unique by a short hash of the name."""
    readable = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name)[:60]
    return f"{readable}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed on success (replaces ``path``)."""
    with atomic_path(path, overwrite=True) as temporary:
        Path(temporary).write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """:func:`write_text` of ``value`` as indented JSON (non-finite floats as ``NaN``/``Infinity``)."""
    return write_text(path, json.dumps(value, indent=2) + "\n")


def read_part(path: str | os.PathLike, key: Any) -> dict[str, Any] | None:
    """The JSON object stored at ``path`` by a run, if it holds ``"key": key``; None if missing, damaged or foreign.

    A resumable run writes each finished part as ``{"key": ..., ...}`` (the
    key identifies what was computed) and recomputes it unless this returns it.
    """
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and stored.get("key") == key else None


def write_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` atomically."""
    with atomic_path(path, overwrite=True) as temporary, open(temporary, "wb") as file:
        np.save(file, array)
    return Path(path)
