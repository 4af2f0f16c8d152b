"""The wrapper modules after the split by concern: every public name is still importable from
``memrl.envs.wrappers`` (and ``memrl.envs``) as the same object, and the one view-size check
that ``make`` and ``MiniGridObs`` share."""

from __future__ import annotations

import numpy as np
import pytest

import memrl.envs
from memrl.envs import generic_wrappers, minigrid_wrappers, popgym_wrappers, wrappers
from memrl.envs.minigrid_wrappers import check_view_size

HOMES = {
    generic_wrappers: ["FlattenObs", "PreviousAction"],
    minigrid_wrappers: ["MiniGridObs", "OneHotImage"],
    popgym_wrappers: [
        "POPGYM_PREFIX",
        "POPGymObs",
        "draw_vector_frame",
        "make_popgym",
        "popgym_wrapper",
        "resolve_popgym_id",
    ],
}


@pytest.mark.parametrize(
    ("module", "name"), [(module, name) for module, names in HOMES.items() for name in names]
)
def test_wrappers_re_exports_each_name_from_its_home(module, name):
    assert getattr(wrappers, name) is getattr(module, name)
    assert name in wrappers.__all__
    if name in memrl.envs.__all__:
        assert getattr(memrl.envs, name) is getattr(module, name)


def test_every_name_in_wrappers_all_is_importable():
    for name in wrappers.__all__:
        assert hasattr(wrappers, name), name


@pytest.mark.parametrize("size", [3, 5, 7, np.int64(9)])
def test_check_view_size_accepts_odd_integers_from_3(size):
    checked = check_view_size(size)
    assert checked == size and type(checked) is int


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (1, "view_size must be an integer >= 3, got 1"),
        (2, "view_size must be an integer >= 3, got 2"),
        (4, "view_size must be odd"),
        (3.0, "view_size must be an integer >= 3, got 3.0"),
        (True, "view_size must be an integer >= 3, got True"),
        ("5", "view_size must be an integer >= 3"),
    ],
)
def test_check_view_size_refuses_other_values(size, message):
    with pytest.raises(ValueError, match=message):
        check_view_size(size)
