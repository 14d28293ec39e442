"""Arguments renamed since 0.2, read under their old names too.

A `.keras` file stores a model's or a layer's constructor arguments under the names they had
when it was saved, and code written for 0.2 passes them so. Both keep working: each class lists
its renamed arguments as `{old name: Renamed(new name, {old value: new value})}`, and its
constructor takes the old names through `pop_renamed`, which warns (DeprecationWarning) and
hands back the values under their new names.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Renamed:
    """The new name of a 0.2 argument.

    Attributes:
        name: the argument's name now.
        values: old values that were renamed too, {old: new}; other values pass unchanged.
    """

    name: str
    values: Mapping[Any, Any] = field(default_factory=dict)

    def new_value(self, value: Any) -> Any:
        """`value` in the new argument's terms."""
        return self.values.get(value, value) if isinstance(value, Hashable) else value

    def describe(self, old: str) -> str:
        """A sentence saying what became of `old`, for warnings and errors."""
        values = ", ".join(f"{a!r} is {b!r}" for a, b in self.values.items())
        return f"`{old}` (0.2) is now `{self.name}`" + (f" ({values})" if values else "")


def pop_renamed(
    owner: str,
    kwargs: dict[str, Any],
    renamed: Mapping[str, Renamed],
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """Take the old names out of `kwargs`; return their values under the new names.

    Args:
        owner: the class, for the messages.
        kwargs: the constructor's extra keyword arguments; old names are removed from it.
        renamed: the class's renamed arguments, {old name: Renamed}.
        given: the constructor's arguments under their new names, as passed or defaulted.
        defaults: the constructor's defaults, to tell a passed new name from a defaulted one.

    Returns:
        {new name: value} for every old name that `kwargs` held.

    Raises:
        TypeError: an old name and its new name were both passed.
    """
    found = {}
    for old, new in renamed.items():
        if old not in kwargs:
            continue
        value = kwargs.pop(old)
        if given.get(new.name) != defaults.get(new.name):
            raise TypeError(
                f"{owner} got `{old}`={value!r} and `{new.name}`={given[new.name]!r}: "
                f"{new.describe(old)}; pass only `{new.name}`."
            )
        warnings.warn(f"{owner}: {new.describe(old)}.", DeprecationWarning, stacklevel=4)
        found[new.name] = new.new_value(value)
    return found
