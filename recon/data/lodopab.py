"""LoDoPaB-CT's file layout: a reader with angle subsets, and a writer.

A part (``train``, ``validation``, ``test``) is a folder of file pairs
``observation_{part}_%03d.hdf5`` (post-log sinograms, ``(n, 1000, 513)``)
and ``ground_truth_{part}_%03d.hdf5`` (images, ``(n, 362, 362)``, x-first),
one float32 dataset ``data`` each, 128 samples per file except the last (whose
ground-truth file may keep up to 128 rows: LoDoPaB-CT's script trims only the
observations; the part is as long as its observations);
sample ``k`` lives in file ``k // 128`` at row ``k % 128``. Smaller
LoDoPaB-shaped folders (other sizes, as tests and users write them with
:func:`write_lodopab`) are read the same way with the matching
:meth:`recon.Geometry.parallel` geometry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from recon.checks import check_finite
from recon.data.datasets import InputTransform, PairedData, angle_step
from recon.data.hdf5 import Compression, create_sample_dataset, read_hdf5
from recon.data.lodopab_patients import patient_file, patient_order, read_patient_ids
from recon.files import atomic_path
from recon.geometry import Geometry

__all__ = ["LoDoPaB", "write_lodopab", "lodopab_file", "SAMPLES_PER_FILE", "PART_SIZES"]

Part = Literal["train", "validation", "test"]
#: Samples per file of LoDoPaB-CT.
SAMPLES_PER_FILE = 128
#: Number of samples of each part of the published LoDoPaB-CT.
PART_SIZES = {"train": 35820, "validation": 3522, "test": 3553}
_KINDS = ("observation", "ground_truth")


def lodopab_file(root: str | os.PathLike, kind: Literal["observation", "ground_truth"], part: str,
                 number: int) -> Path:
    """Path of file ``number`` of a part: ``root/{kind}_{part}_{number:03d}.hdf5``."""
    return Path(root) / f"{kind}_{part}_{number:03d}.hdf5"


def _check_part(part: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9]+", str(part)):
        raise ValueError(f"part: expected a name such as 'train', 'validation' or 'test', got {part!r}")


def _file_numbers(root: Path, part: str, kinds: tuple[str, ...] = _KINDS) -> list[int]:
    """The contiguous file numbers 0..k-1 of a part; raises on gaps or one-sided files (of ``kinds``)."""
    found = {kind: [] for kind in _KINDS}
    for kind in kinds:
        pattern = re.compile(rf"{kind}_{re.escape(part)}_(\d{{3}})\.hdf5")
        found[kind] = sorted(int(m.group(1)) for p in root.iterdir() if (m := pattern.fullmatch(p.name)))
    if not found["observation"] and not found["ground_truth"]:
        raise FileNotFoundError(
            f"{root}: no LoDoPaB files of part {part!r} ({lodopab_file(root, 'observation', part, 0).name} ...)"
        )
    for kind, other in (_KINDS, _KINDS[::-1]) if len(kinds) == 2 else ():
        missing = sorted(set(found[other]) - set(found[kind]))
        if missing:
            raise FileNotFoundError(f"{lodopab_file(root, kind, part, missing[0])}: no such file "
                                    f"(its {other} counterpart exists)")
    numbers = found["observation"]
    gaps = sorted(set(range(numbers[-1] + 1)) - set(numbers))
    if gaps:
        raise FileNotFoundError(f"{lodopab_file(root, 'observation', part, gaps[0])}: no such file "
                                f"(files up to {numbers[-1]:03d} exist)")
    return numbers


def _data_shape(path: Path) -> tuple[int, ...]:
    with read_hdf5(path) as h5:
        if "data" not in h5:
            raise ValueError(f"{path}: missing dataset 'data' (found {sorted(h5)})")
        data = h5["data"]
        if not isinstance(data, h5py.Dataset):
            raise ValueError(f"{path}: 'data': expected a dataset, got {type(data).__name__}")
        if data.ndim != 3 or data.dtype != np.float32:
            raise ValueError(f"{path}: dataset 'data': expected float32 (n, ., .), got {data.dtype} {data.shape}")
        return data.shape


class LoDoPaB(PairedData):
    """A part of LoDoPaB-CT (or of a folder in its layout) as a paired dataset.

    Parameters
    ----------
    root : path-like
        Folder holding the ``observation_*`` and ``ground_truth_*`` files.
    part : {"train", "validation", "test"} or str
        Which part.
    num_angles : int, optional
        Sparse view: keep ``num_angles`` equally spaced angles (every
        ``full // num_angles``-th, starting with the first); must divide the
        full number (1000 for LoDoPaB). Default: all.
    allow_partial : bool
        Accept a folder of real LoDoPaB-size files holding fewer (or more)
        samples than the published part (an incomplete download); by default
        that is an error, never a silent truncation.
    observations_only : bool
        Read the ``observation_*`` files alone (ground truths absent, or left
        unread): items then come through
        :class:`~recon.data.datasets.SinogramsOnly`, and :meth:`read` refuses.
    image_size : int, optional
        With ``observations_only``: the reconstruction grid's side, pixels.
        Default 362 for LoDoPaB-CT's (1000, 513) sinograms; other sizes must
        say it.
    sorted_by_patient : bool
        Visit the samples patient by patient (DIVal's ``sorted_by_patient``):
        sample ``i`` is the ``i``-th of a stable sort by patient id. Needs the
        record's ``patient_ids_rand_{part}.csv`` in ``root``.
    input_transform, cache_inputs, batch_size
        As in :class:`~recon.data.datasets.PairedDataset`.

    Attributes
    ----------
    geometry : Geometry
        ``Geometry.lodopab()`` (or the same family at the files' sizes),
        with the angle subset applied.
    patient_ids : numpy.ndarray of int64, shape (N,), or None
        The absolute patient id of each sample in the dataset's order, from
        ``patient_ids_rand_{part}.csv`` (:mod:`recon.data.lodopab_patients`);
        None without that file. Subtract ``patient_ids.min()`` for DIVal's
        relative ids.

    Raises
    ------
    FileNotFoundError
        No files, a missing file in the sequence, or an observation without
        its ground truth (and vice versa).
    ValueError
        A file that is not HDF5, lacks ``data``, holds a number of samples
        other than 128 (except the last, 1..128), differs from its partner
        (except a last ground-truth file with extra rows, as LoDoPaB-CT ships it),
        or ``num_angles`` not dividing the full count.

    Examples
    --------
    >>> ds = LoDoPaB("/data/lodopab", "validation", num_angles=100)  # doctest: +SKIP
    >>> sinogram, image = ds[200]  # doctest: +SKIP
    >>> # (1, 100, 513) and (1, 362, 362), read from file 001, row 72
    """

    def __init__(
        self,
        root: str | os.PathLike,
        part: Part | str,
        *,
        num_angles: int | None = None,
        allow_partial: bool = False,
        observations_only: bool = False,
        image_size: int | None = None,
        sorted_by_patient: bool = False,
        input_transform: InputTransform | None = None,
        cache_inputs: str | os.PathLike | None = None,
        batch_size: int = 16,
    ) -> None:
        _check_part(part)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such folder")
        self.part = part
        self.observations_only = observations_only
        kinds = _KINDS[:1] if observations_only else _KINDS
        numbers = _file_numbers(self.root, part, kinds)
        self._paths = [tuple(lodopab_file(self.root, kind, part, n) if kind in kinds else None for kind in _KINDS)
                       for n in numbers]
        self.num_samples = self._count_samples()
        self._full_geometry = self._infer_geometry(image_size)
        self._step = angle_step(self._full_geometry, num_angles)
        self.geometry = self._full_geometry.angle_subset(self._step)
        real_size = self._full_geometry == Geometry.lodopab()
        if real_size and part in PART_SIZES and self.num_samples != PART_SIZES[part] and not allow_partial:
            raise ValueError(
                f"{self.root}: LoDoPaB part {part!r} holds {PART_SIZES[part]} samples, found "
                f"{self.num_samples} in {len(self._paths)} files (pass allow_partial=True to use them)"
            )
        ids = read_patient_ids(self.root, part, self.num_samples, partial=allow_partial)
        if sorted_by_patient and ids is None:
            raise FileNotFoundError(f"{patient_file(self.root, part)}: sorted_by_patient needs LoDoPaB-CT's "
                                    "patient id file, which is missing")
        self._order = patient_order(ids) if sorted_by_patient else None
        self.patient_ids = ids if self._order is None else ids[self._order]
        self._setup_inputs(input_transform, cache_inputs, batch_size)

    def _count_samples(self) -> int:
        total = 0
        self._shapes = {}
        for number, (observation, truth) in enumerate(self._paths):
            obs_shape = _data_shape(observation)
            gt_shape = obs_shape[:1] + (None, None) if truth is None else _data_shape(truth)
            last = number == len(self._paths) - 1
            # LoDoPaB-CT's generating script trims only the last *observation* file of a part, so its last
            # ground-truth file may hold extra rows; the part's length is the observations' (as DIVal reads it).
            if obs_shape[0] != gt_shape[0] and not (last and obs_shape[0] < gt_shape[0] <= SAMPLES_PER_FILE):
                extra = " (only the last ground-truth file may hold more)" if obs_shape[0] < gt_shape[0] else ""
                raise ValueError(f"{observation}: {obs_shape[0]} observations but {truth.name} holds "
                                 f"{gt_shape[0]} ground truths{extra}")
            if not (0 < obs_shape[0] <= SAMPLES_PER_FILE if last else obs_shape[0] == SAMPLES_PER_FILE):
                expected = f"1 to {SAMPLES_PER_FILE} (last file)" if last else str(SAMPLES_PER_FILE)
                raise ValueError(f"{observation}: expected {expected} samples, got {obs_shape[0]}")
            shapes = (obs_shape[1:], gt_shape[1:])
            if self._shapes.setdefault("per_sample", shapes) != shapes:
                raise ValueError(f"{observation}: sample shapes {shapes} differ from the first file's "
                                 f"{self._shapes['per_sample']}")
            total += obs_shape[0]
        return total

    def _infer_geometry(self, image_size: int | None) -> Geometry:
        (num_angles, num_detectors), image_shape = self._shapes["per_sample"]
        if self.observations_only:
            lodopab = Geometry.lodopab()
            if image_size is None and (num_angles, num_detectors) != lodopab.sinogram_shape:
                raise ValueError(f"{self._paths[0][0]}: image_size: observations of shape {(num_angles, num_detectors)}"
                                 f" (not LoDoPaB-CT's {lodopab.sinogram_shape}) need the image size")
            image_shape = (lodopab.image_shape[0] if image_size is None else image_size,) * 2
        elif image_size is not None:
            raise ValueError("image_size: for observations_only; with ground truths the image size is theirs")
        if image_shape[0] != image_shape[1]:
            raise ValueError(f"{self._paths[0][1]}: expected square ground truths, got {image_shape}")
        return Geometry.parallel(image_size=image_shape[0], num_angles=num_angles, num_detectors=num_detectors)

    def _locate(self, index: int) -> tuple[Path, Path | None, int]:
        """``(observation file, ground-truth file or None, row)`` of sample ``index`` in the dataset's order."""
        index = index if self._order is None else int(self._order[index])
        observation, truth = self._paths[index // SAMPLES_PER_FILE]
        return observation, truth, index % SAMPLES_PER_FILE

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        observation, truth, row = self._locate(index)
        if truth is None:
            raise ValueError(f"{self.root}: opened with observations_only; read it through SinogramsOnly, "
                             "or train it with a self-supervised loss")
        return self._files.read(observation, "data", row, self._step), self._files.read(truth, "data", row)

    def read_sinogram(self, index: int) -> np.ndarray:
        observation, _, row = self._locate(index)
        return self._files.read(observation, "data", row, self._step)

    def source_id(self) -> str:
        order = ":by-patient" if self._order is not None else ""
        observations = ":observations" if self.observations_only else ""
        return (f"lodopab:{self.root.resolve()}:{self.part}:{self.num_samples}:{self.geometry.fingerprint()}"
                f"{order}{observations}")


def write_lodopab(
    root: str | os.PathLike,
    part: Part | str,
    observations,
    ground_truths,
    *,
    compression: Compression = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write pairs in LoDoPaB-CT's layout, 128 samples per file.

    Parameters
    ----------
    root : path-like
        Existing output folder.
    part : str
        Part name in the file names.
    observations : array_like, shape (N, A, D)
        Post-log sinograms; anything sliceable with a ``shape`` (numpy arrays,
        h5py datasets such as a paired file's ``sinograms``) is read 128 rows
        at a time.
    ground_truths : array_like, shape (N, nx, ny)
        Images, x-first.
    compression : {"gzip", "lzf", None}
    overwrite : bool
        Replace existing files; otherwise refuse before writing anything.

    Returns
    -------
    list of pathlib.Path
        The files written, observation and ground truth of each number.

    Raises
    ------
    ValueError
        Shapes or counts that do not match, or NaN / inf values (their count
        and the index of the first sample with one); a file with them is not written.
    """
    _check_part(part)
    for name, data in (("observations", observations), ("ground_truths", ground_truths)):
        if len(data.shape) != 3:
            raise ValueError(f"{name}: expected shape (N, ., .), got {tuple(data.shape)}")
    if len(observations) != len(ground_truths) or len(observations) == 0:
        raise ValueError(f"expected as many observations as ground truths (> 0), got {len(observations)} "
                         f"and {len(ground_truths)}")
    count = -(-len(observations) // SAMPLES_PER_FILE)
    paths = [lodopab_file(root, kind, part, n) for n in range(count) for kind in _KINDS]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]}: file exists (pass overwrite=True to replace it)")
    written = []
    try:
        for number in range(count):
            rows = slice(number * SAMPLES_PER_FILE, (number + 1) * SAMPLES_PER_FILE)
            for kind, data in zip(_KINDS, (observations, ground_truths)):
                block = np.asarray(data[rows], dtype=np.float32)
                check_finite(block, f"{kind}s", first_index=rows.start)
                with atomic_path(lodopab_file(root, kind, part, number), overwrite=True) as temporary, \
                        h5py.File(temporary, "w") as h5:
                    create_sample_dataset(h5, "data", block.shape, compression=compression)[...] = block
                written.append(lodopab_file(root, kind, part, number))
    except BaseException:  # bad data or Ctrl-C in a later file: the files of this call are removed
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return paths
