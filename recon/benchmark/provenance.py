"""What each learned method of a protocol was trained and validated on, and the refusal of test-family models.

A model's checkpoint records its image families (``families``:
``{"training": [...], "validation": [...]}``, written by the trainer);
older checkpoints record only the training family, as ``physics["phantom"]``
(:func:`recon.data.families.recorded_families`): their validation families
are then unknown (None). A model trained or validated on a test family of a
protocol has seen its test images' kind: the protocol refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from recon.benchmark.methods import checkpoint_file, learned_model_spec
from recon.data.families import recorded_families
from recon.training.checkpoint import read_metadata

__all__ = ["ModelRecord", "model_record", "refuse_test_families"]


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """The data a learned method was made with, from its checkpoint's metadata.

    Attributes
    ----------
    name : str
        The method's spec (a shipped name or a checkpoint file).
    training : tuple of str
        Families of its training images (empty: none recorded, e.g. a user's files).
    validation : tuple of str or None
        Families of its validation images; None when the checkpoint predates that record.
    photons : float or None
        ``N0`` of its training data, photons per bin (the lowest of a dose range).
    photons_max : float or None
        The highest ``N0`` of a dose range; None for one dose.
    """

    name: str
    training: tuple[str, ...]
    validation: tuple[str, ...] | None
    photons: float | None
    photons_max: float | None

    def to_dict(self) -> dict[str, Any]:
        """The attributes as JSON values (tuples as lists)."""
        return asdict(self)

    def dose(self) -> str:
        """E.g. ``"4096 photons"``, ``"1024 to 16384 photons"`` or ``"not recorded"``."""
        if self.photons is None:
            return "not recorded"
        return f"{self.photons:g}" + (f" to {self.photons_max:g}" if self.photons_max else "") + " photons"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def model_record(spec: str) -> ModelRecord:
    """The :class:`ModelRecord` of a learned method's spec (a checkpoint file or shipped name, or its adaptation).

    Raises
    ------
    ValueError
        Neither a checkpoint file nor shipped weights, or not a recon checkpoint.
    """
    metadata = read_metadata(checkpoint_file(learned_model_spec(spec) or spec))
    physics = metadata.get("physics") or {}
    families = metadata.get("families")
    if families is None:
        training, validation = recorded_families(physics), None
    else:
        training, validation = tuple(families.get("training", ())), tuple(families.get("validation", ()))
    return ModelRecord(name=spec, training=tuple(training), validation=validation,
                       photons=_number(physics.get("photons")), photons_max=_number(physics.get("photons_max")))


def refuse_test_families(specs: Sequence[str], test_families: Iterable[str], protocol: str
                         ) -> dict[str, ModelRecord]:
    """The records of the learned methods among ``specs``, refusing any that saw a test family.

    Parameters
    ----------
    specs : sequence of str
        Method specs; the learned ones (:func:`~recon.benchmark.methods.learned_model_spec`: checkpoints
        and their adaptations) are read.
    test_families : iterable of str
        The protocol's test families.
    protocol : str
        Its name, for the message.

    Returns
    -------
    dict of str to ModelRecord
        By spec, in the given order.

    Raises
    ------
    ValueError
        One line naming each refused model, the test family and whether it
        was trained or validated on it.
    """
    test = set(test_families)
    records = {spec: model_record(spec) for spec in specs if learned_model_spec(spec)}
    refused = [f"{record.name} was {verb} on the test family {name!r}"
               for record in records.values()
               for verb, names in (("trained", record.training), ("validated", record.validation or ()))
               for name in names if name in test]
    if refused:
        raise ValueError(f"protocol {protocol!r} refuses models that saw its test images' families: "
                         + "; ".join(refused))
    return records
