"""The parts a `TrainConfig` field is made of: `setting(...)` and the checks it can carry.

Each field keeps its help text and its check in the dataclass field's metadata, so the binaries
make flags from the fields and `TrainConfig.validate` runs the checks, with nothing written twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from deepnets import checks
from deepnets.checks import ArgumentError

OWNER = "TrainConfig"

# Every optimizer `make_optimizer` makes; the decoupled ones decay weights in their update.
OPTIMIZERS = ("sgd", "adam", "adamw", "nadam", "lion", "lamb", "muon")
DECOUPLED_BY_DEFAULT = ("adamw", "lion", "lamb", "muon")

Check = Callable[[str, Any], Any]


class ConfigError(ArgumentError):
    """A run setting that cannot be used; `name` is the `TrainConfig` field (and flag) to blame."""

    def __init__(self, name: str, value: Any, allowed: str = "", *, reason: str | None = None):
        super().__init__(name, value, allowed, owner=OWNER, reason=reason)


def setting(default: Any, help: str, check: Check | None = None, *, factory: Any = None) -> Any:
    """A `TrainConfig` field with its help text and check in the field's metadata."""
    metadata = {"help": help, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def choice(*allowed: Any) -> Check:
    def check(name: str, value: Any) -> None:
        checks.check_choice(name, value, allowed, owner=OWNER)

    check.choices = allowed  # the flag help lists them
    return check


def number_range(low: float, high: float, **inclusive: bool) -> Check:
    return lambda name, value: checks.check_in_range(
        name, value, low, high, owner=OWNER, **inclusive
    )


def simple(function: Callable[..., Any]) -> Check:
    return lambda name, value: function(name, value, owner=OWNER)


def optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def overrides_dict(name: str, value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ArgumentError(name, value, "a dict of model builder keyword arguments", owner=OWNER)


POSITIVE_INT = simple(checks.check_positive_int)
OPTIONAL_POSITIVE_INT = simple(checks.check_optional_positive_int)
NONNEGATIVE_INT = simple(checks.check_nonnegative_int)
BOOL = simple(checks.check_bool)
NAME = simple(checks.check_nonempty_str)
POSITIVE_FLOAT = simple(checks.check_positive_float)
FRACTION = number_range(0.0, 1.0, high_inclusive=False)
NONNEGATIVE = number_range(0.0, float("inf"))
