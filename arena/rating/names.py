"""How lists of model names read in warnings and reports: short enough for one terminal line with hundreds of
models."""

from __future__ import annotations


def names_shown(names: list[str], limit: int = 12) -> str:
    """Names joined by commas, the first `limit` of a long list and how many more."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def models_phrase(names: list[str]) -> str:
    """`model 'a'` for one name, `3 models ('a', 'b', 'c')` for several, a long list shortened by names_shown
    (a thousand-model arena prints one line per kind of warning, not one per model)."""
    if len(names) == 1:
        return f"model {names[0]!r}"
    return f"{len(names)} models ({names_shown([repr(x) for x in names])})"
