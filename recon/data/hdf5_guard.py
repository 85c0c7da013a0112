"""Guards against libhdf5's own failures on damaged files: crashes and endless loops in C.

h5py turns most damage into exceptions, but libhdf5 2.0.0 (h5py 3.16.0) also
crashes the process or loops forever on some damaged metadata, inside C
code that neither an exception nor Ctrl-C reaches (found by
``tests/test_fuzz.py``'s long run: a Fletcher-32 chunk whose recorded size
is 0 segfaults when read; some bit flips in a variable-length string
attribute make reading it loop forever). :func:`check_storage` refuses the
first from a dataset's chunk index; :func:`probe_metadata` reads a file's
metadata in a forked child first, so that the second becomes an error
instead of a hung reader.
"""

from __future__ import annotations

import os
import signal
import time

import h5py
import numpy as np

__all__ = ["PROBE_TIMEOUT_S", "check_storage", "probe_metadata"]

#: Seconds the forked child of :func:`probe_metadata` may take before the file counts as damaged;
#: an intact file's metadata take milliseconds.
PROBE_TIMEOUT_S = 10.0
#: Bytes that HDF5's Fletcher-32 filter appends to each chunk (its checksum).
_FLETCHER32_BYTES = 4


def check_storage(data: h5py.Dataset, path: str | os.PathLike) -> None:
    """Refuse a dataset whose storage index points past the file or at chunks of impossible size.

    libhdf5 2.0.0 does not check this itself: a chunk of a Fletcher-32
    checksummed dataset whose recorded size is 0 (one bit flip in the chunk
    index) crashes the process with a segmentation fault when it is read.
    This reads the index only, no data.

    Parameters
    ----------
    data : h5py.Dataset
        A dataset of an open file.
    path : path-like
        The file, for the message (and its size on disk).

    Raises
    ------
    ValueError
        A chunk or the contiguous data lies (partly) outside the file, or a
        chunk's stored size cannot hold it: 0, no larger than its checksum,
        or, without compression, other than its elements' bytes (plus the
        checksum); the message names the file, the dataset and the chunk.
    """
    file_size = os.path.getsize(path)
    where = f"{path}: dataset {data.name!r}"
    if data.chunks is None:
        offset, size = data.id.get_offset(), data.id.get_storage_size()
        if offset is not None and offset + size > file_size:
            raise ValueError(f"{where}: its data ({size} bytes at {offset}) lie past the end of the file "
                             f"({file_size} bytes; truncated or damaged?)")
        return
    raw = int(np.prod(data.chunks)) * data.dtype.itemsize
    checksum = _FLETCHER32_BYTES if data.fletcher32 else 0
    sizes = {raw, raw + checksum} if data.compression is None and data.scaleoffset is None else None

    def check(chunk) -> None:
        if chunk.byte_offset + chunk.size > file_size:
            problem = f"lies past the end of the file ({file_size} bytes; truncated or damaged?)"
        elif chunk.size <= checksum or (sizes is not None and chunk.size not in sizes):
            problem = f"cannot hold {raw} bytes of data"
        else:
            return
        raise ValueError(f"{where}: the chunk at {tuple(chunk.chunk_offset)} ({chunk.size} bytes at "
                         f"{chunk.byte_offset}) {problem}")

    data.id.chunk_iter(check)


def probe_metadata(path: str | os.PathLike, *, timeout_s: float | None = None) -> None:
    """Read every attribute and chunk index of an HDF5 file in a forked child, before this process does.

    The child opens the file, reads every attribute of every object and
    checks every dataset's storage (:func:`check_storage`); it reads no
    data. Errors it meets are left to the caller's own reading, which
    reports them; only a child that is killed by a signal (a crash inside
    libhdf5) or does not finish in ``timeout_s`` is an error here. Without
    ``os.fork`` (Windows) nothing is probed. Costs a few milliseconds.

    Parameters
    ----------
    path : path-like
    timeout_s : float, optional
        Default :data:`PROBE_TIMEOUT_S`.

    Raises
    ------
    ValueError
        The file's metadata crash libhdf5 or do not finish reading; the
        message names the file.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return
    timeout_s = PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _read_metadata(path)
        finally:
            os._exit(0)
    deadline, pause = time.monotonic() + timeout_s, 0.0005
    while True:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ValueError(f"{path}: not a readable HDF5 file (damaged?): reading its metadata did not finish "
                             f"in {timeout_s:g} s")
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise ValueError(f"{path}: not a readable HDF5 file (damaged?): reading its metadata crashes "
                         f"libhdf5 ({name})")


def _read_metadata(path: str | os.PathLike) -> None:
    """Every attribute and every dataset's storage index of ``path`` (the child of :func:`probe_metadata`)."""
    try:
        with h5py.File(path, "r") as h5:
            def visit(_name: str, item: h5py.HLObject) -> None:
                for key in item.attrs:
                    item.attrs[key]
                if isinstance(item, h5py.Dataset):
                    check_storage(item, path)

            visit("/", h5)
            h5.visititems(visit)
    except Exception:  # noqa: BLE001 - the caller's own reading reports what is wrong
        pass

