"""recon operators inside ODL and ODL operators inside torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon import Geometry, LinearOperator, RayTransform
from recon.operators import check_operator
from recon.operators.odl_bridge import OdlOperatorModule, as_odl_operator, geometry_from_odl, geometry_to_odl

GEOMETRIES = [
    Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23),
    Geometry.fan(image_size=(19, 13), num_angles=9, num_detectors=31),
]


def _relative(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(params=GEOMETRIES, ids=["parallel", "fan"])
def pair(request):
    """recon's operator and ODL's own ray transform of the same geometry."""
    from odl.applications import tomo

    space, odl_geometry = geometry_to_odl(request.param)
    return RayTransform(request.param), tomo.RayTransform(space, odl_geometry, impl="astra_cpu")


def test_recon_operator_in_odl_equals_odls_ray_transform(pair):
    import odl

    ours, reference = pair
    wrapped = as_odl_operator(ours)
    x = odl.core.phantom.shepp_logan(reference.domain, modified=True)
    assert _relative(wrapped(x).asarray(), reference(x).asarray()) < 1e-5
    y = reference(x)
    assert _relative(wrapped.adjoint(y).asarray(), reference.adjoint(y).asarray()) < 1e-5
    assert wrapped.adjoint.adjoint is wrapped


def test_odl_solver_runs_on_a_recon_operator(pair):
    """ODL's CGLS gives the same iterate with recon's operator as with ODL's."""
    import odl

    ours, reference = pair
    x = odl.core.phantom.shepp_logan(reference.domain, modified=True)
    y = reference(x)
    results = []
    for operator in (as_odl_operator(ours), reference):
        estimate = reference.domain.zero()
        odl.solvers.conjugate_gradient_normal(operator, estimate, y, niter=5)
        results.append(estimate.asarray())
    assert _relative(results[0], results[1]) < 1e-4


def test_odl_operator_as_module_equals_recon(pair):
    ours, reference = pair
    module = OdlOperatorModule(reference)
    x = torch.rand(2, 1, *ours.domain_shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(module(x), ours(x), rtol=1e-5, atol=1e-6)
    y = ours(x)
    torch.testing.assert_close(module.adjoint(y), ours.adjoint(y), rtol=1e-5, atol=1e-6)
    report = check_operator(module, device=None)
    assert report.failures() == [], str(report)


def test_odl_module_gradient_is_the_transpose(pair):
    ours, reference = pair
    module = OdlOperatorModule(reference)
    x = torch.rand(1, 1, *ours.domain_shape).requires_grad_(True)
    w = torch.rand(1, 1, *ours.range_shape)
    (gradient,) = torch.autograd.grad((module(x) * w).sum(), x)
    torch.testing.assert_close(gradient, ours.adjoint(w), rtol=1e-5, atol=1e-6)


def test_generic_operator_gets_unweighted_spaces():
    import odl

    class Doubling(LinearOperator):
        domain_shape = range_shape = (3, 4)

        def forward(self, x):
            return 2 * x

        def adjoint(self, y):
            return 2 * y

    wrapped = as_odl_operator(Doubling())
    x = odl.rn((3, 4)).element(np.arange(12.0).reshape(3, 4))
    np.testing.assert_allclose(wrapped(x).asarray(), 2 * np.arange(12.0).reshape(3, 4))
    np.testing.assert_allclose(wrapped.adjoint(x).asarray(), 2 * np.arange(12.0).reshape(3, 4))


def test_bad_bridge_input():
    import odl

    operator = RayTransform(GEOMETRIES[0])
    with pytest.raises(ValueError, match="do not match"):
        as_odl_operator(operator, domain=odl.rn((3, 3)), range=odl.rn((7, 23)))
    with pytest.raises(TypeError, match="linear ODL operator"):
        OdlOperatorModule(odl.ScalingOperator(odl.rn(3), 2.0) + odl.rn(3).one())
    with pytest.raises(ValueError, match=r"expected shape \(B, C, 17, 11\)"):
        from odl.applications import tomo

        space, geometry = geometry_to_odl(GEOMETRIES[0])
        OdlOperatorModule(tomo.RayTransform(space, geometry, impl="astra_cpu"))(torch.zeros(1, 1, 11, 17))


def test_complex_odl_spaces_are_refused_not_truncated():
    import odl

    operator = RayTransform(Geometry.parallel(image_size=8, num_angles=4, num_detectors=11))
    complex_space = odl.cn(operator.domain_shape)
    with pytest.raises(ValueError, match=r"domain: expected a real ODL space \(recon's operators are real\)"):
        as_odl_operator(operator, domain=complex_space, range=odl.rn(operator.range_shape))
    with pytest.raises(ValueError, match=r"odl_operator.domain: expected a real ODL space"):
        OdlOperatorModule(odl.ScalingOperator(complex_space, 2.0))


def test_pytorch_backed_odl_spaces_get_tensors_back():
    import odl

    operator = RayTransform(Geometry.parallel(image_size=8, num_angles=4, num_detectors=11))
    domain = odl.rn(operator.domain_shape, dtype="float32", impl="pytorch")
    range_ = odl.rn(operator.range_shape, dtype="float32", impl="pytorch")
    wrapped = as_odl_operator(operator, domain=domain, range=range_)
    x = torch.rand(*operator.domain_shape, generator=torch.Generator().manual_seed(0))
    y = wrapped(domain.element(x)).asarray()
    assert isinstance(y, torch.Tensor) and y.device == x.device
    torch.testing.assert_close(y, operator(x[None, None])[0, 0])
    module = OdlOperatorModule(wrapped)  # and back: a pytorch-backed ODL operator as a recon operator
    assert check_operator(module, device=None).failures() == []


@pytest.mark.parametrize("geometry", [Geometry.lodopab_small(), Geometry.lodopab_small().angle_subset(6),
                                      Geometry.fan(image_size=(16, 12), num_angles=8, num_detectors=21),
                                      Geometry.parallel(image_size=8, num_angles=1, num_detectors=11)])
def test_geometry_from_odl_inverts_to_odl(geometry):
    assert geometry_from_odl(*geometry_to_odl(geometry)) == geometry


def test_geometry_from_odl_refuses_what_it_cannot_represent():
    import odl
    from odl.applications import tomo

    space, parallel = geometry_to_odl(Geometry.lodopab_small())
    shifted = tomo.Parallel2dGeometry(parallel.motion_partition, parallel.det_partition, translation=(0.01, 0))
    with pytest.raises(ValueError, match="det_point_position differs from recon's convention"):
        geometry_from_odl(space, shifted)
    with pytest.raises(ValueError, match="expected a real ODL space"):
        geometry_from_odl(odl.uniform_discr([-1, -1], [1, 1], (4, 4), dtype="complex64"), parallel)
    curved = tomo.FanBeamGeometry(parallel.motion_partition, parallel.det_partition, 0.5, 0.5, det_curvature_radius=1.0)
    with pytest.raises(ValueError, match="expected ODL's Parallel2dGeometry or FanBeamGeometry"):
        geometry_from_odl(space, curved)
