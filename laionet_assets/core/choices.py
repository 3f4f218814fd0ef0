"""The one check of a setting that takes one of a few named values."""

from __future__ import annotations


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` itself, or a ValueError naming what it is and the allowed values."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {choices}")
    return value
