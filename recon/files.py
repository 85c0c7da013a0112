"""Output files that appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path next to ``path`` that becomes ``path`` only on success.

    Parameters
    ----------
    path : path-like
        Final file name.
    overwrite : bool
        Replace an existing file; otherwise raise ``FileExistsError`` before
        anything is written.

    Yields
    ------
    pathlib.Path
        Where to write. On normal exit it is renamed to ``path``; on any
        exception, ``KeyboardInterrupt`` included, it is deleted.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: file exists (pass overwrite=True / --overwrite to replace it)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder for {path.name}")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
