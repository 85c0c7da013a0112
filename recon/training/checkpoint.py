"""Safe checkpoints: trained models (safetensors + JSON) and training states.

A **model checkpoint** is one safetensors file: the weights as tensors and, in
its header, JSON metadata -- format, model name, constructor arguments
(geometry included), the physics of the training data, the training
configuration and recon's version. A **training state** (for exact resume)
is a ``torch.save`` file of tensors and plain values only, read with
``torch.load(weights_only=True)``.

Neither loader ever unpickles arbitrary objects: a file from a stranger
cannot run code. A pickle, a ``torch.save`` archive of objects or anything
else is refused with :class:`UnsafeCheckpointError` or ``ValueError``.
Files are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recon.files import atomic_path
from recon.geometry import Geometry
from recon.models import LearnedReconstructor, build_model
from recon.models.base import CpuBackend, to_json_value
from recon.version import __version__

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_DIR",
    "UnsafeCheckpointError",
    "save_model",
    "load_model",
    "read_metadata",
    "resolve_checkpoint",
    "looks_like_path",
    "shipped_models",
    "shipped_weights",
    "ShippedWeights",
    "save_training_state",
    "load_training_state",
]

FORMAT = "recon-model"
FORMAT_VERSION = 1
#: Shipped weights: ``load_model("lpd-small")`` reads ``WEIGHTS_DIR / "lpd-small.safetensors"``.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SUFFIX = ".safetensors"
_METADATA_KEY = "recon"
_RESERVED = ("format", "format_version", "model", "config", "code_version")


class UnsafeCheckpointError(ValueError):
    """A checkpoint that could run code when loaded (a pickle); it is never opened."""


def save_model(model: LearnedReconstructor, path: str | os.PathLike, *, extra_metadata: Mapping[str, Any] | None = None,
               overwrite: bool = False) -> Path:
    """Write a model checkpoint (safetensors weights + JSON metadata), atomically.

    Parameters
    ----------
    model : LearnedReconstructor
        A registered model (a ``DistributedDataParallel`` wrapper is unwrapped).
    path : path-like
        Output file, conventionally ``*.safetensors``.
    extra_metadata : mapping, optional
        More JSON entries, e.g. ``{"physics": {...}, "training": {...}}``;
        the keys ``format``, ``format_version``, ``model``, ``config`` and
        ``code_version`` are recon's own.
    overwrite : bool
        Replace an existing file; otherwise ``FileExistsError``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    if not isinstance(model, LearnedReconstructor) or not model.name:
        raise TypeError(f"model: expected a registered recon LearnedReconstructor, got {type(model).__name__}")
    extra = to_json_value(dict(extra_metadata or {}), "extra_metadata")
    clashes = sorted(set(extra) & set(_RESERVED))
    if clashes:
        raise ValueError(f"extra_metadata: the keys {clashes} are reserved for recon's own metadata")
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model.name,
                "config": model.config, "code_version": __version__, **extra}
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(path, overwrite=overwrite) as temporary:
        temporary.touch()  # a new file's permissions under the umask; safetensors itself creates 0600 files
        mode = temporary.stat().st_mode & 0o777
        save_file(tensors, temporary, metadata={_METADATA_KEY: json.dumps(metadata)})
        os.chmod(temporary, mode)
    return Path(path)


def shipped_models() -> list[str]:
    """Names of the shipped weights installed with recon (``"lpd-small"`` ...), sorted."""
    return sorted(path.name[: -len(SUFFIX)] for path in WEIGHTS_DIR.glob(f"*{SUFFIX}"))


@dataclass(frozen=True)
class ShippedWeights:
    """One set of shipped weights, described by its own checkpoint's metadata (nothing kept beside it).

    Attributes
    ----------
    name : str
        What :func:`load_model` takes (``"lpd-small"``).
    file : Path
        ``WEIGHTS_DIR / f"{name}.safetensors"``.
    model : str
        The registered model (``"lpd"``).
    geometry : Geometry
        The geometry it reconstructs.
    training : dict
        The resolved training config that produced it (``recon train``'s).
    physics : dict
        The simulation of its training data (photons, family, seed ...).
    validation : dict of str to float
        Its validation scores when it was kept as the best checkpoint (``psnr``, dB; ``ssim``).
    """

    name: str
    file: Path
    model: str
    geometry: Geometry
    training: dict[str, Any]
    physics: dict[str, Any]
    validation: dict[str, float]


def shipped_weights() -> list[ShippedWeights]:
    """Every shipped model, read from its checkpoint's metadata, sorted by name."""
    weights = []
    for name in shipped_models():
        file = WEIGHTS_DIR / f"{name}{SUFFIX}"
        metadata = read_metadata(file)
        weights.append(ShippedWeights(
            name=name, file=file, model=metadata["model"], geometry=Geometry.from_dict(metadata["config"]["geometry"]),
            training=metadata.get("training") or {}, physics=metadata.get("physics") or {},
            validation={key: float(value) for key, value in (metadata.get("validation") or {}).items()}))
    return weights


def looks_like_path(spec: str) -> bool:
    """Whether ``spec`` is explicitly a file path: it holds a folder separator or ends in ``.safetensors``."""
    return os.sep in spec or "/" in spec or spec.endswith(SUFFIX)


def _is_shipped_name(name: str) -> bool:
    return bool(name) and not looks_like_path(name) and (WEIGHTS_DIR / f"{name}{SUFFIX}").is_file()


def resolve_checkpoint(path_or_name: str | os.PathLike) -> Path:
    """The file of a checkpoint path or of a shipped model name such as ``"lpd-small"``.

    A shipped name wins over a file of the same name in the working
    directory; write such a file as a path (``./lpd-small``) to load it.
    """
    if not str(path_or_name).strip():  # Path("") is the current folder
        raise ValueError(f"checkpoint: expected a path to a {SUFFIX} file or a shipped model name, "
                         f"got {str(path_or_name)!r}")
    path = Path(path_or_name)
    if _is_shipped_name(str(path_or_name)):
        return WEIGHTS_DIR / f"{path_or_name}{SUFFIX}"
    if path.exists():
        if path.is_dir():
            raise IsADirectoryError(f"{path}: expected a checkpoint file, got a folder")
        return path
    name = str(path_or_name)
    if looks_like_path(name):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    available = shipped_models()
    holds = f"it holds {available}" if available else "none are installed yet"
    raise FileNotFoundError(
        f"{name!r}: neither a checkpoint file nor the name of shipped weights in {WEIGHTS_DIR} ({holds})"
    )


def _refuse_unsafe(path: Path) -> None:
    """Raise if ``path`` starts like a pickle or a ``torch.save`` (zip) archive, not like safetensors."""
    with open(path, "rb") as file:
        head = file.read(9)
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        return
    if (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or head[:4] == b"PK\x03\x04":
        raise UnsafeCheckpointError(
            f"{path}: this is a pickle or torch.save file, which could run code when loaded; "
            "recon reads model checkpoints only in its safetensors format and refuses to unpickle it"
        )


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    _refuse_unsafe(path)
    try:
        with safe_open(path, framework="pt") as file:
            header = file.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable recon checkpoint (safetensors): {error}") from None
    try:
        metadata = json.loads(header[_METADATA_KEY])
    except (KeyError, ValueError):
        raise ValueError(f"{path}: a safetensors file without recon's metadata, not a recon checkpoint") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: expected recon's metadata as a JSON object, got {type(metadata).__name__}")
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: expected format {FORMAT!r} version {FORMAT_VERSION}, got "
            f"{metadata.get('format')!r} version {metadata.get('format_version')!r}"
        )
    if not isinstance(metadata.get("model"), str) or not isinstance(metadata.get("config"), dict):
        raise ValueError(
            f"{path}: expected recon's metadata with a model name and its config, got model "
            f"{metadata.get('model')!r} and config {type(metadata.get('config')).__name__}"
        )
    return tensors, metadata


def read_metadata(path_or_name: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a model checkpoint (model, config, geometry, physics, training, version)."""
    return _read(resolve_checkpoint(path_or_name))[1]


def load_model(path_or_name: str | os.PathLike, *, cpu_backend: CpuBackend | None = None,
               device: torch.device | str = "cpu") -> LearnedReconstructor:
    """Rebuild a trained model, with its geometry, from a checkpoint.

    Parameters
    ----------
    path_or_name : path-like or str
        A file written by :func:`save_model`, or the name of shipped weights
        (``"lpd-small"`` ...) under :data:`WEIGHTS_DIR`.
    cpu_backend : {"threads", "sparse", "auto"}, optional
        Override the operator's CPU backend recorded in the checkpoint.
    device : torch.device or str

    Returns
    -------
    LearnedReconstructor
        In evaluation mode, ready for ``model(y) -> x``; its checkpoint
        metadata is ``model.metadata``.

    Raises
    ------
    UnsafeCheckpointError
        The file is a pickle (it is not opened as one).
    ValueError
        Not a recon checkpoint, or weights that do not fit the recorded model.
    FileNotFoundError
        No such file and no shipped weights of that name.

    Examples
    --------
    >>> model = load_model("runs/lpd/best.safetensors")  # doctest: +SKIP
    >>> x = model(y)  # (B, 1, A, D) -> (B, 1, nx, ny)  # doctest: +SKIP
    """
    path = resolve_checkpoint(path_or_name)
    tensors, metadata = _read(path)
    config = dict(metadata["config"])
    if cpu_backend is not None:
        config["cpu_backend"] = cpu_backend
    try:
        model = build_model(metadata["model"], **config)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{path}: expected a model config recon can build, got one for {metadata['model']!r} "
                         f"that fails: {error}") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not fit model {metadata['model']!r}: {error}") from None
    model.metadata = metadata
    return model.to(device).eval()


def save_training_state(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a training state (tensors and plain values only), atomically, replacing ``path``."""
    with atomic_path(path, overwrite=True) as temporary:
        torch.save(dict(state), temporary)
    return Path(path)


def load_training_state(path: str | os.PathLike, *, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Read :func:`save_training_state`'s file without unpickling arbitrary objects.

    Raises
    ------
    FileNotFoundError
        No such file.
    UnsafeCheckpointError
        A pickle of objects other than tensors and plain values (it could run
        code; it is not unpickled).
    ValueError
        Anything else that is not a training state: not a torch file at all,
        a damaged or truncated one, or one that holds no mapping of entries.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training state to resume from")
    with open(path, "rb") as file:
        head = file.read(4)
    if head[:4] != b"PK\x03\x04" and head[:1] != b"\x80":
        got = "an empty file" if not head else f"a file that is not a torch file (it starts with {head!r})"
        raise ValueError(f"{path}: expected a training state written by recon (a torch.save file), got {got}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = [line.strip() for line in str(error).splitlines() if "nsupported" in line]
        imports = _pickle_imports(path) if head[:1] == b"\x80" else None
        if (reason and "GLOBAL" in reason[0]) or imports:
            raise UnsafeCheckpointError(
                f"{path}: refused, it holds objects other than tensors and plain values, and unpickling "
                f"them could run code ({reason[0] if reason and 'GLOBAL' in reason[0] else ', '.join(imports)})"
            ) from None
        raise ValueError(f"{path}: expected a training state written by recon, got a damaged torch file "
                         f"({reason[0] if reason else 'not a valid pickle'})") from None
    except Exception as error:  # torch raises many kinds for foreign or truncated files
        reason = " ".join(str(error).split()[:30]) or type(error).__name__
        raise ValueError(f"{path}: expected a training state written by recon, got a damaged or truncated "
                         f"torch file ({reason})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a training state (a mapping of entries), got {type(state).__name__}")
    return state


def _pickle_imports(path: Path) -> list[str] | None:
    """The imports of a whole, valid pickle file (``GLOBAL`` and object opcodes), or None if not a valid pickle."""
    imports = []
    try:
        for opcode, argument, _ in pickletools.genops(path.read_bytes()):
            if opcode.name in ("GLOBAL", "INST"):
                imports.append(f"GLOBAL {argument}")
            elif opcode.name in ("STACK_GLOBAL", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE"):
                imports.append(opcode.name)
    except Exception:  # noqa: BLE001 - any failure means: not a valid pickle
        return None
    return sorted(set(imports)) or None
