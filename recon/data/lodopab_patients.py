"""LoDoPaB-CT's patient ids: ``patient_ids_rand_{part}.csv``, one absolute id per sample, as DIVal reads them.

The record ships, next to the HDF5 files, one CSV per part whose line ``k``
is the (absolute) id of the patient of sample ``k``; the parts hold disjoint
patients numbered in order, train < validation < test. DIVal's
``LoDoPaBDataset`` reads them with ``numpy.loadtxt`` and orders a part by
patient with a stable ``argsort``; :func:`patient_order` does the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["PART_ORDER", "patient_file", "patient_order", "read_patient_ids"]

#: The parts in the order of their patient ids.
PART_ORDER = ("train", "validation", "test")


def patient_file(root: Path, part: str) -> Path:
    """``root/patient_ids_rand_{part}.csv``."""
    return Path(root) / f"patient_ids_rand_{part}.csv"


def _load(path: Path) -> np.ndarray:
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    try:
        ids = np.array([int(line) for line in lines], dtype=np.int64)
    except ValueError:
        bad = next(k for k, line in enumerate(lines) if not line.lstrip("-").isdigit())
        raise ValueError(f"{path}: expected one integer patient id per line, got {lines[bad]!r} "
                         f"on line {bad + 1}") from None
    if (ids < 0).any():
        raise ValueError(f"{path}: expected patient ids >= 0, got {int(ids.min())}")
    return ids


def read_patient_ids(root: Path, part: str, num_samples: int, *, partial: bool) -> np.ndarray | None:
    """The absolute patient id of each sample of a part, or None when the part's CSV is absent.

    Parameters
    ----------
    root : pathlib.Path
        The LoDoPaB-CT folder.
    part : str
    num_samples : int
        Samples the folder's files hold.
    partial : bool
        The folder may hold only the first samples of the part (the CSV then
        has more lines, and its first ``num_samples`` are used).

    Returns
    -------
    numpy.ndarray of int64, shape (num_samples,), or None

    Raises
    ------
    ValueError
        A line that is not an integer id, fewer ids than samples (or more,
        unless ``partial``), or ids overlapping another part's or out of the
        order train < validation < test where those parts' CSVs are present;
        the message names the files.
    """
    path = patient_file(root, part)
    if not path.is_file():
        return None
    ids = _load(path)
    if len(ids) < num_samples or (len(ids) > num_samples and not partial):
        raise ValueError(f"{path}: expected one patient id per sample ({num_samples}), got {len(ids)}")
    if part in PART_ORDER:
        position = PART_ORDER.index(part)
        for other in PART_ORDER:
            other_path = patient_file(root, other)
            if other == part or not other_path.is_file():
                continue
            other_ids = _load(other_path)
            before = PART_ORDER.index(other) < position
            if (other_ids.max() >= ids.min()) if before else (other_ids.min() <= ids.max()):
                first, second = (other_path, path) if before else (path, other_path)
                raise ValueError(f"{first} and {second}: expected the ids of {' < '.join(PART_ORDER)} in that "
                                 f"order without overlap (absolute ids, as LoDoPaB-CT numbers them)")
    return ids[:num_samples]


def patient_order(ids: np.ndarray) -> np.ndarray:
    """Sample indices that visit a part patient by patient, each patient's slices in file order (stable).

    Examples
    --------
    >>> patient_order(np.array([7, 3, 7, 3])).tolist()
    [1, 3, 0, 2]
    """
    return np.argsort(ids, kind="stable")
