"""Models by name: :func:`register_model`, :data:`MODELS` and :func:`build_model`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from recon.models.base import LearnedReconstructor

__all__ = ["MODELS", "register_model", "build_model", "list_models"]

#: Registered name -> reconstructor class.
MODELS: dict[str, type[LearnedReconstructor]] = {}

ModelT = TypeVar("ModelT", bound=type[LearnedReconstructor])


def register_model(name: str) -> Callable[[ModelT], ModelT]:
    """Class decorator: make a :class:`LearnedReconstructor` buildable as ``build_model(name, ...)``."""

    def register(cls: ModelT) -> ModelT:
        if not (isinstance(cls, type) and issubclass(cls, LearnedReconstructor)):
            raise TypeError(f"register_model({name!r}): expected a LearnedReconstructor subclass, got {cls!r}")
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"register_model: the name {name!r} is taken by {MODELS[name].__qualname__}")
        cls.name = name
        MODELS[name] = cls
        return cls

    return register


def list_models() -> list[str]:
    """The registered model names, sorted: what :func:`build_model` and training configs' ``model`` accept.

    Examples
    --------
    >>> list_models()
    ['dncnn', 'fbpconvnet', 'lgd', 'lpd', 'redcnn']
    """
    return sorted(MODELS)


def build_model(name: str, **config: Any) -> LearnedReconstructor:
    """A new (untrained) model by registered name.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`, e.g. ``"lpd"``.
    **config
        Constructor arguments; ``geometry`` (a Geometry or its dict) is required.

    Returns
    -------
    LearnedReconstructor

    Examples
    --------
    >>> import recon
    >>> g = recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45)
    >>> model = build_model("lpd", geometry=g, iterations=2)
    >>> model.config["iterations"], model.name
    (2, 'lpd')
    """
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    if "geometry" not in config:
        raise TypeError(f"build_model({name!r}): missing the required argument 'geometry'")
    return MODELS[name](**config)
