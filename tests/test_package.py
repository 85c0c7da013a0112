"""``import recon``: the public names, lazily loaded subpackages, ``recon --version``."""

from __future__ import annotations

import subprocess
import sys

import recon
from recon.cli import main
from recon.commands.info import LIBRARIES, library_versions


def run_in_a_fresh_interpreter(code: str) -> None:
    """Run ``code`` with ``python -c`` (nothing imported yet); fail with its stderr if it fails."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_documented_subpackages_work_after_a_bare_import_without_loading_them_eagerly():
    code = ("import sys, recon\n"
            "eager = {name for name in ('recon.benchmark', 'recon.plotting', 'matplotlib') if name in sys.modules}\n"
            "assert not eager, eager\n"
            "assert callable(recon.plotting.show_image) and callable(recon.benchmark.benchmark)\n"
            "assert 'plotting' in dir(recon)\n")
    run_in_a_fresh_interpreter(code)


def test_importing_the_geometry_loads_neither_torch_nor_the_models_nor_the_trainer():
    code = ("import sys, recon.geometry\n"
            "loaded = {name for name in ('torch', 'recon.models', 'recon.training', 'recon.operators') if name in sys.modules}\n"
            "assert not loaded, loaded\n"
            "import recon\n"
            "assert recon.__version__ and recon.Geometry is recon.geometry.Geometry\n"
            "from recon import fbp, load_model, tv\n"
            "assert callable(fbp) and callable(load_model) and callable(tv) and 'torch' in sys.modules\n")
    run_in_a_fresh_interpreter(code)


def test_every_public_name_resolves_and_unknown_ones_raise_attribute_error():
    for name in recon.__all__:
        assert getattr(recon, name) is not None, name
    try:
        recon.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_an_unknown_attribute_is_still_an_attribute_error():
    try:
        recon.no_such_name
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:  # pragma: no cover
        raise AssertionError("recon.no_such_name did not raise")


def test_version_prints_recon_and_the_version_and_exits_0(capsys):
    try:
        main(["--version"])
    except SystemExit as exit:
        assert exit.code == 0
    assert capsys.readouterr().out == f"recon {recon.__version__}\n"


def test_info_lists_the_versions_of_every_library_recon_uses(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    versions = library_versions()
    for name in ("torch", "astra-toolbox", "odl", "numpy", "h5py", "pydicom"):
        assert name in LIBRARIES and versions[name] != "not installed"
        assert any(line.split() == [name, versions[name]] for line in out.splitlines()), name


def test_old_class_names_still_work_for_one_release_with_a_deprecation_warning():
    import pytest

    from recon.algorithms import BoundMethod
    from recon.models import LearnedReconstructor

    with pytest.warns(DeprecationWarning, match="recon.models.LearnedReconstructor"):
        from recon.models import Reconstructor as OldModel
    with pytest.warns(DeprecationWarning, match="recon.algorithms.BoundMethod"):
        from recon.algorithms import Reconstructor as OldMethod
    assert OldModel is LearnedReconstructor and OldMethod is BoundMethod


def test_classical_and_learned_methods_are_both_reconstructors():
    from recon.algorithms import BoundMethod
    from recon.models import MODELS, build_model, list_models

    geometry = recon.Geometry.parallel(image_size=16, num_angles=10, num_detectors=23)
    classical = BoundMethod("tv", recon.RayTransform(geometry), {"iterations": 2})
    learned = build_model("lpd", geometry=geometry, iterations=1)
    for method in (classical, learned):
        assert isinstance(method, recon.Reconstructor) and method.geometry == geometry and method.name
    assert not isinstance(object(), recon.Reconstructor)
    assert list_models() == sorted(MODELS) and "lpd" in list_models()


def test_the_geometry_conversions_to_odl_moved_and_the_old_methods_warn_for_one_release():
    import pytest

    from recon.operators.odl_bridge import geometry_from_odl, geometry_to_odl

    geometry = recon.Geometry.fan(image_size=16, num_angles=10, num_detectors=23, source_radius=0.5,
                                  detector_radius=0.5)
    space, odl_geometry = geometry_to_odl(geometry)
    with pytest.warns(DeprecationWarning, match="recon.operators.odl_bridge.geometry_to_odl"):
        old_space, old_geometry = geometry.to_odl()
    with pytest.warns(DeprecationWarning, match="recon.operators.odl_bridge.geometry_from_odl"):
        assert recon.Geometry.from_odl(space, odl_geometry) == geometry == geometry_from_odl(space, odl_geometry)
    assert old_space == space and type(old_geometry) is type(odl_geometry)
    assert (old_geometry.angles == odl_geometry.angles).all() and old_geometry.src_radius == 0.5
