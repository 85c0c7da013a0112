"""CT windows in HU and the upright, windowed display of normalised images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from recon.physics import hu_to_normalized  # noqa: E402
from recon.plotting import CT_WINDOWS, Window, ct_window, show_ct  # noqa: E402


@pytest.mark.parametrize(("spec", "limits"), [("soft", (-160.0, 240.0)), ("lung", (-1350.0, 150.0)),
                                               ("bone", (-500.0, 1300.0)), (" Soft ", (-160.0, 240.0)),
                                               ("350,50", (-125.0, 225.0)), ("2000,-500", (-1500.0, 500.0))])
def test_named_and_numeric_windows_give_their_limits_in_hu(spec, limits):
    assert ct_window(spec).limits == limits


def test_the_default_window_is_soft_tissue_w400_l40():
    assert CT_WINDOWS["soft"] == Window(400.0, 40.0, "soft tissue")
    assert CT_WINDOWS["soft"].label == "soft tissue W400/L40"


@pytest.mark.parametrize(("spec", "shown"), [("liver", "'liver'"), ("400", "'400'"), ("400,40,1", "'400,40,1'"),
                                             ("wide,40", "'wide,40'"), ("-400,40", "W-400/L40"),
                                             ("0,40", "W0/L40"), ("nan,40", "Wnan/L40")])
def test_a_bad_window_names_the_expected_forms_and_what_came(spec, shown):
    with pytest.raises(ValueError, match="window: expected") as error:
        ct_window(spec)
    assert str(error.value).endswith(f"got {shown}")


def test_show_ct_draws_upright_in_hu_through_the_window():
    image = hu_to_normalized(np.array([[0.0, 40.0, 1000.0], [-1000.0, -160.0, 240.0]]))  # (nx 2, ny 3)
    figure, ax = plt.subplots()
    try:
        artist = show_ct(ax, image, window="soft")
        np.testing.assert_allclose(artist.get_array(), [[0, -1000], [40, -160], [1000, 240]], atol=1e-3)
        assert artist.get_clim() == (-160.0, 240.0) and artist.origin == "lower"
    finally:
        plt.close(figure)
