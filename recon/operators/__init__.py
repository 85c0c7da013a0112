"""Linear operators: the ray transform, its backends and the ODL bridge."""

from recon.operators.autograd import BackendOperator
from recon.operators.base import AdjointOperator, LinearOperator, dot_test
from recon.operators.check import OperatorReport, check_operator
from recon.operators.ray_transform import RayTransform

__all__ = ["LinearOperator", "AdjointOperator", "BackendOperator", "OperatorReport", "RayTransform", "check_operator",
           "dot_test"]
