"""arena.rating loads its public names on first use: importing the package alone loads no scipy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import arena.rating


def test_every_public_name_resolves_to_its_module() -> None:
    from arena.rating import io, leaderboard, options, report

    homes = {"io": io, "leaderboard": leaderboard, "options": options, "report": report}
    for name in arena.rating.__all__:
        value = getattr(arena.rating, name)
        assert value is getattr(homes[arena.rating._HOMES[name]], name)
    assert set(arena.rating.__all__) <= set(dir(arena.rating))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        arena.rating.no_such_thing  # noqa: B018


def test_package_import_loads_no_scipy() -> None:
    code = "import sys, arena.rating; print(sorted(m for m in ('scipy', 'arena.rating.leaderboard') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
