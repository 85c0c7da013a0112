"""Output files that appear whole or not at all, and output folders one run at a time.

:func:`atomic_path` writes a file under a temporary name, ``.NAME.PID.part``,
renamed when complete. A run killed outright (SIGKILL, power loss) leaves
that temporary file behind; :func:`remove_orphans` deletes the ones whose
process is gone.

:func:`output_folder` is what a command wraps around its work on one output
folder: it refuses a path that is a file, creates the folder, takes the
folder's lock (:data:`LOCK_FILE`, holding the owner's pid and host; another
live recon process on it is refused with :class:`FolderInUseError`), removes
orphaned temporary files, and on failure removes the folders it created if
they are still empty. The lock is an ``flock`` on the lock file, so the
kernel releases it when its process dies, however it dies: a lock file left
by a dead process is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_FILE", "FolderInUseError", "atomic_folder", "atomic_path", "output_folder", "pid_alive",
           "remove_orphans"]

#: Lock file of an output folder in use.
LOCK_FILE = ".recon.lock"
_PART = re.compile(r"^\..+\.(\d+)\.part$")
_log = logging.getLogger("recon")


class FolderInUseError(FileExistsError):
    """An output folder another recon process is writing to."""


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
        Where to write, ``.NAME.PID.part`` in the same folder. On normal exit
        it is renamed to ``path``; on any exception, ``KeyboardInterrupt``
        included, it is deleted.
    """
    path = Path(path)
    temporary = _temporary(path, overwrite, "file")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary folder next to ``path`` that becomes the folder ``path`` only on success.

    Parameters
    ----------
    path : path-like
        Final folder name.
    overwrite : bool
        Replace an existing folder (or file); otherwise raise ``FileExistsError``
        before anything is written.

    Yields
    ------
    pathlib.Path
        An empty folder to write into, ``.NAME.PID.part`` in the same folder
        as ``path``. On normal exit it is renamed to ``path`` (a replaced
        folder is first moved aside to ``.NAME.old.PID.part``, then deleted);
        on any exception, ``KeyboardInterrupt`` included, it is deleted with
        its contents.
    """
    path = Path(path)
    temporary = _temporary(path, overwrite, "folder")
    _remove(temporary)  # left by a dead process that had this process's id
    temporary.mkdir()
    try:
        yield temporary
        _replace_folder(temporary, path)
    finally:
        _remove(temporary)


def _temporary(path: Path, overwrite: bool, what: str) -> Path:
    """``.NAME.PID.part`` next to ``path``, once ``path`` may be written: refused if it exists or has no folder."""
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise FileExistsError(f"{path}: {what} exists (pass overwrite=True / --overwrite to replace it)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder for {path.name}")
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def _replace_folder(temporary: Path, path: Path) -> None:
    """Rename the folder ``temporary`` to ``path``, replacing what is there (put back if the rename fails)."""
    if not (path.exists() or path.is_symlink()):
        os.replace(temporary, path)
        return
    old = path.with_name(f".{path.name}.old.{os.getpid()}.part")
    _remove(old)
    os.replace(path, old)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.replace(old, path)
        raise
    _remove(old)


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree; nothing if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of that id exists on this machine (of any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders of :func:`atomic_path` and :func:`atomic_folder` whose process is gone.

    Parameters
    ----------
    folder : path-like
        Searched recursively; a missing folder holds nothing.

    Returns
    -------
    list of pathlib.Path
        The files and folders removed (a folder with its contents). Those of
        live processes are kept.
    """
    removed = []
    for path in sorted(Path(folder).rglob(".*.part")):
        match = _PART.match(path.name)
        if not match or pid_alive(int(match.group(1))) or any(path.is_relative_to(r) for r in removed):
            continue
        if path.is_file() or path.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _holder(path: Path) -> str:
    """Who holds a lock file, as written in it ("process 123 on host"), or "another process"."""
    try:
        pid, host = path.read_text().split()[:2]
        return f"process {int(pid)} on {host}"
    except (OSError, ValueError):
        return "another process"


def _lock(folder: Path) -> int:
    """The descriptor of ``folder``'s lock file, locked by this process."""
    import fcntl

    path = folder / LOCK_FILE
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise FolderInUseError(
                f"{folder}: expected an output folder no other run is using, got one in use by {_holder(path)} "
                f"(wait for it to finish, or choose another output folder)"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder unlinked while this process waited to lock it
            break
        os.close(descriptor)
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return descriptor


def _unlock(folder: Path, descriptor: int) -> None:
    with contextlib.suppress(OSError):
        (folder / LOCK_FILE).unlink()
    os.close(descriptor)


def _create(folder: Path, what: str) -> list[Path]:
    """Create ``folder`` and its missing parents; the folders created, outermost first."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        where = "a file" if folder.is_file() else "a path through a file"
        raise NotADirectoryError(f"{folder}: expected {what}, got {where}") from None
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or already gone): keep it and its parents


@contextlib.contextmanager
def output_folder(folder: str | os.PathLike, *, what: str = "an output folder") -> Iterator[Path]:
    """Use ``folder`` as this run's output: created, locked, cleaned of orphans; released on exit.

    Parameters
    ----------
    folder : path-like
        The output folder; created with its parents if missing.
    what : str
        What messages say was expected there, e.g. ``"an output folder"``.

    Yields
    ------
    pathlib.Path
        ``folder``. On any exception (``KeyboardInterrupt`` included) the
        folders this call created are removed again if still empty; the lock
        is released in every case.

    Raises
    ------
    NotADirectoryError
        ``folder`` (or a parent) is a file.
    FolderInUseError
        Another live process holds the folder's lock.
    """
    folder = Path(folder)
    created = _create(folder, what)
    try:
        descriptor = _lock(folder)
    except OSError as error:
        _remove_if_empty(created)
        if isinstance(error, FolderInUseError) or error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
            raise
        descriptor = None  # a file system without locks: run unlocked
    try:
        removed = remove_orphans(folder)
        if removed:
            _log.warning("%s: removed %d temporary file(s) of runs that were killed: %s", folder, len(removed),
                         ", ".join(str(path.relative_to(folder)) for path in removed))
        yield folder
    except BaseException:
        if descriptor is not None:
            _unlock(folder, descriptor)
            descriptor = None
        _remove_if_empty(created)
        raise
    finally:
        if descriptor is not None:
            _unlock(folder, descriptor)
