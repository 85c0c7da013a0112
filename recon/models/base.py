"""The base of every learned reconstructor: geometry, shared operator, recorded configuration."""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from recon.algorithms.common import check_sinogram
from recon.algorithms.fbp import FilterName, fbp
from recon.geometry import Geometry
from recon.operators import RayTransform
from recon.operators.ray_transform import CpuBackend, CudaBackend

__all__ = ["LearnedReconstructor", "CpuBackend", "CudaBackend", "Initialization", "as_geometry", "to_json_value"]

Initialization = Literal["fbp", "zero"]


def as_geometry(geometry: Geometry | dict[str, Any]) -> Geometry:
    """A :class:`~recon.Geometry` from itself or from its :meth:`~recon.Geometry.to_dict`."""
    return geometry if isinstance(geometry, Geometry) else Geometry.from_dict(geometry)


def to_json_value(value: Any, name: str = "value") -> Any:
    """``value`` as plain JSON (tuples become lists, a Geometry its dict); else ``TypeError``."""
    if isinstance(value, Geometry):
        return value.to_dict()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, name) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: to_json_value(item, f"{name}.{key}") for key, item in value.items()}
    raise TypeError(f"{name}: expected a JSON value (number, string, list, dict), got {type(value).__name__}")


def _recording(init):
    """Wrap a model's ``__init__`` so the instance remembers its arguments in ``config``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments[next(iter(signature.parameters))]
        for parameter in signature.parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(arguments.pop(parameter.name))
        # A subclass's wrapper runs after its base's: it adds to the base's record.
        recorded = {key: to_json_value(value, key) for key, value in arguments.items()}
        self.config = {**getattr(self, "config", {}), **recorded}

    return wrapper


class LearnedReconstructor(nn.Module):
    """A learned reconstructor ``model(y) -> x`` on one geometry.

    Subclasses are registered by name (:func:`~recon.models.register_model`)
    and take only JSON-able keyword arguments besides ``geometry``, passing
    the options below on as ``**options``; every instance records all its
    constructor arguments, defaults included, in :attr:`config` (the
    geometry as a dict), so ``build_model(model.name, **model.config)``
    rebuilds it -- this is what a checkpoint stores.

    Parameters
    ----------
    geometry : Geometry or dict
        2D acquisition geometry (or its :meth:`~recon.Geometry.to_dict`).
    fbp_filter : {"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}
        Filter of the FBP input or initialisation.
    frequency_scaling : float
        Cut-off of that filter in (0, 1]; Hann at 0.641 is DIVal's choice for LoDoPaB-CT.
    cpu_backend : {"threads", "sparse", "auto"}
        Backend of the :class:`~recon.RayTransform` on CPU tensors.
    cuda_backend : {"astra", "sparse"}
        Backend of the :class:`~recon.RayTransform` on CUDA tensors
        (``"sparse"``: the CPU projector's exact matrix, for training on a GPU
        with the operator the model meets on a CPU).

    Attributes
    ----------
    operator : RayTransform
        ``A``, shared by the FBP and the unrolled iterations.
    config : dict
        The constructor arguments as JSON.
    name : str
        The registered name.
    """

    name: ClassVar[str] = ""
    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording(cls.__init__)

    def __init__(
        self,
        geometry: Geometry | dict[str, Any],
        *,
        fbp_filter: FilterName = "hann",
        frequency_scaling: float = 0.641,
        cpu_backend: CpuBackend = "threads",
        cuda_backend: CudaBackend = "astra",
    ) -> None:
        super().__init__()
        self.geometry = as_geometry(geometry)
        if self.geometry.ndim != 2:
            raise ValueError(f"geometry: expected a 2D parallel or fan geometry, got {self.geometry.kind!r}")
        self.operator = RayTransform(self.geometry, cpu_backend=cpu_backend, cuda_backend=cuda_backend)
        self.fbp_filter = fbp_filter
        self.frequency_scaling = frequency_scaling
        # ||A||, computed on first use and then stored with the weights.
        self.register_buffer("operator_norm", torch.zeros((), dtype=torch.float32))

    # ------------------------------------------------------------------ inputs
    def check_sinogram(self, y: Tensor) -> Tensor:
        """``y`` if it is a float32 batch ``(B, 1, A, D)`` of this geometry; else a clear error."""
        check_sinogram(y, self.operator)
        if y.shape[1] != 1:
            raise ValueError(f"sinogram: expected one channel, shape (B, 1, A, D), got {tuple(y.shape)}")
        return y

    def filtered_backprojection(self, y: Tensor) -> Tensor:
        """FBP of ``y (B, 1, A, D)`` with this model's filter: images ``(B, 1, nx, ny)``."""
        return fbp(y, self.operator, filter=self.fbp_filter, frequency_scaling=self.frequency_scaling)

    def initial_image(self, y: Tensor, initialization: Initialization) -> Tensor:
        """The FBP of ``y`` or zeros, shape ``(B, 1, nx, ny)``."""
        if initialization == "fbp":
            return self.filtered_backprojection(y)
        return y.new_zeros((y.shape[0], 1, *self.geometry.image_shape))

    # ------------------------------------------------------- scaled operator
    def scale(self) -> float:
        """``||A||`` (power iteration on first use, then the stored buffer)."""
        if float(self.operator_norm) == 0.0:
            self.operator_norm.fill_(self.operator.norm())
        return float(self.operator_norm)

    def project(self, x: Tensor) -> Tensor:
        """``A x / ||A||`` for images ``(B, C, nx, ny)`` of any float dtype (computed in float32)."""
        return self.operator(x.float()) / self.scale()

    def backproject(self, y: Tensor) -> Tensor:
        """``A^T y / ||A||`` for sinograms ``(B, C, A, D)`` of any float dtype."""
        return self.operator.adjoint(y.float()) / self.scale()


LearnedReconstructor.__init__ = _recording(LearnedReconstructor.__init__)
