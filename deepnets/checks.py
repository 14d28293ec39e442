"""Argument checks shared by the layers, the models and the training config.

Every check raises an `ArgumentError`: a `ValueError` that carries the argument's name, the value
it got and a phrase saying what is allowed, as attributes. Programs map an error to the option
the user typed (the binaries print `--model_overrides: ...` or `--schedule=...`) from those
attributes, never by reading the message text.

Types are strict: a bool is not an int (`True == 1` in Python, so `True in (1, 2)` is True;
`check_choice` compares types as well as values).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


class ArgumentError(ValueError):
    """An argument that cannot be used.

    Attributes:
        name: the argument's name, e.g. "strides" (for a `TrainConfig`, the field name).
        value: the value it got.
        allowed: what is allowed, as a phrase: "one of 1, 2", "a positive integer".
        owner: where the argument belongs ("TrainConfig"), or None for a constructor argument.
        reason: a full sentence replacing the standard message, or None.
    """

    def __init__(
        self,
        name: str,
        value: Any,
        allowed: str,
        *,
        owner: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        self.owner = owner
        self.reason = reason
        super().__init__(self.describe())

    def describe(self, label: str | None = None) -> str:
        """The message, with `label` (e.g. "--schedule") in place of the argument's own name.

        Args:
            label: how to name the argument; None: "`name`", or "Owner.name" with an owner.

        Returns:
            One sentence: what got which value, and what is allowed.
        """
        if label is None:
            label = f"{self.owner}.{self.name}" if self.owner else f"`{self.name}`"
        if self.reason:
            return f"{label}: {self.reason}"
        if self.owner or label.startswith("--"):
            return f"{label}={self.value!r} is invalid: expected {self.allowed}."
        return f"{label} must be {self.allowed}; got {self.value!r}."


def is_int(value: Any) -> bool:
    """True for ints, False for bools and everything else."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for ints and floats, False for bools and everything else."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any, *, owner: str | None = None) -> int:
    """Return `value` if it is an int > 0 (not a bool)."""
    if not is_int(value) or value <= 0:
        raise ArgumentError(name, value, "a positive integer", owner=owner)
    return value


def check_optional_positive_int(name: str, value: Any, *, owner: str | None = None) -> int | None:
    """Return `value` if it is None or an int > 0."""
    if value is not None and (not is_int(value) or value <= 0):
        raise ArgumentError(name, value, "None or a positive integer", owner=owner)
    return value


def check_nonnegative_int(name: str, value: Any, *, owner: str | None = None) -> int:
    """Return `value` if it is an int >= 0."""
    if not is_int(value) or value < 0:
        raise ArgumentError(name, value, "a non-negative integer", owner=owner)
    return value


def check_bool(name: str, value: Any, *, owner: str | None = None) -> bool:
    """Return `value` if it is True or False (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ArgumentError(name, value, "True or False", owner=owner)
    return value


def check_nonempty_str(name: str, value: Any, *, owner: str | None = None) -> str:
    """Return `value` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ArgumentError(name, value, "a non-empty string", owner=owner)
    return value


def check_choice(name: str, value: Any, allowed: Iterable[Any], *, owner: str | None = None) -> Any:
    """Return `value` if it equals one of `allowed` and has its type (True is not 1)."""
    allowed = tuple(allowed)
    if not any(value == a and type(value) is type(a) for a in allowed):
        shown = ", ".join(repr(a) for a in allowed)
        raise ArgumentError(name, value, f"one of {shown}", owner=owner)
    return value


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    owner: str | None = None,
) -> float:
    """Return `value` as a float if it is a number within the interval (NaN never is)."""
    ok = is_number(value) and not math.isnan(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (
            value <= high if high_inclusive else value < high
        )
    if not ok:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ArgumentError(name, value, f"a number in {left}{low:g}, {high:g}{right}", owner=owner)
    return float(value)


def check_rate(name: str, value: Any, *, owner: str | None = None) -> float:
    """Return `value` as a float if it lies in [0, 1) (a dropout or drop-path rate)."""
    return check_in_range(name, value, 0.0, 1.0, high_inclusive=False, owner=owner)


def check_positive_float(name: str, value: Any, *, owner: str | None = None) -> float:
    """Return `value` as a float if it is a finite number > 0."""
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ArgumentError(name, value, "a finite number > 0", owner=owner)
    return float(value)


def check_int_tuple(
    name: str, value: Any, length: int | None = None, *, owner: str | None = None
) -> tuple[int, ...]:
    """Return `value` as a tuple of positive ints (of `length` items, when given)."""
    count = f"{length} " if length is not None else ""
    allowed = f"a sequence of {count}positive integers"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ArgumentError(name, value, allowed, owner=owner)
    values = tuple(value)
    if (length is not None and len(values) != length) or not all(
        is_int(v) and v > 0 for v in values
    ):
        raise ArgumentError(name, value, allowed, owner=owner)
    return values


def check_increasing(name: str, value: Any, *, owner: str | None = None) -> tuple[float, ...]:
    """Return `value` as a tuple if it is a strictly increasing sequence of positive numbers."""
    allowed = "a strictly increasing sequence of positive numbers"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ArgumentError(name, value, allowed, owner=owner)
    values = tuple(value)
    if not all(is_number(v) and v > 0 for v in values) or any(
        b <= a for a, b in zip(values, values[1:], strict=False)
    ):
        raise ArgumentError(name, value, allowed, owner=owner)
    return values
