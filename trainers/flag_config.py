"""absl flags for `TrainConfig`, made from its fields so that each option is written once.

Every field becomes a flag of the same name, with the help text in the field's metadata, the
field's default, and a flag type read from the field's type annotation. `config_from_flags`
turns parsed flags back into a `TrainConfig`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import typing
from collections.abc import Sequence
from typing import Any

from absl import flags

from deepnets.training import ConfigError, TrainConfig

# Words that mean None for an optional string flag ("float32" is the default precision).
_NONE_WORDS = ("", "none", "null", "float32")
_BOOL_WORDS = {"auto": "auto", "true": True, "false": False}


def flag_kind(annotation: Any) -> str:
    """The kind of flag for a field's type: bool, int, float, str, str_or_bool, dict or list."""
    if annotation is bool:
        return "bool"
    origin = typing.get_origin(annotation)
    if origin is dict:
        return "dict"
    if origin in (list, tuple, Sequence):
        return "list"
    members = set(typing.get_args(annotation)) if origin else {annotation}
    members.discard(type(None))
    kinds = {int: "int", float: "float", str: "str"}
    if members == {str, bool}:
        return "str_or_bool"
    if len(members) == 1 and next(iter(members)) in kinds:
        return kinds[next(iter(members))]
    raise TypeError(f"no flag kind for the type {annotation!r}")


def _fields() -> list[tuple[dataclasses.Field, str]]:
    hints = typing.get_type_hints(TrainConfig)
    return [(f, flag_kind(hints[f.name])) for f in dataclasses.fields(TrainConfig)]


def _help(field: dataclasses.Field) -> str:
    text = field.metadata.get("help") or field.name
    choices = getattr(field.metadata.get("check"), "choices", ())
    words = ["none" if c is None else str(c).lower() for c in choices]
    if not all(word in text.lower() for word in words):
        text += " One of: " + ", ".join(words) + "."
    return text


def parse_overrides(text: str) -> dict[str, Any]:
    """Parse "stem=cifar,width=16,zero_init_residual=True" into a dict of Python values.

    Values are read as Python literals where they parse (numbers, True/False/None, tuples in
    parentheses) and as strings otherwise.

    Raises:
        ConfigError: an item is not KEY=VALUE (on the field "model_overrides").
    """
    result: dict[str, Any] = {}
    if not text.strip():
        return result
    for item in re.split(r",(?![^()\[\]]*[)\]])", text):
        if "=" not in item:
            raise ConfigError(
                "model_overrides",
                text,
                reason=f"{item!r} is not KEY=VALUE; write e.g. "
                "--model_overrides=stem=cifar,width=16",
            )
        key, value = (part.strip() for part in item.split("=", 1))
        try:
            result[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            result[key] = value
    return result


def define_train_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Define one flag per TrainConfig field, with its default, type and help text."""
    defaults = TrainConfig()
    for field, kind in _fields():
        name, default, text = field.name, getattr(defaults, field.name), _help(field)
        if kind == "bool":
            flags.DEFINE_boolean(name, default, text, flag_values=flag_values)
        elif kind == "int":
            flags.DEFINE_integer(name, default, text, flag_values=flag_values)
        elif kind == "float":
            flags.DEFINE_float(name, default, text, flag_values=flag_values)
        elif kind == "list":
            flags.DEFINE_list(name, [str(v) for v in default], text, flag_values=flag_values)
        elif kind == "dict":
            flags.DEFINE_string(name, "", text + " Format: KEY=VALUE,...", flag_values=flag_values)
        elif kind == "str_or_bool":
            flags.DEFINE_enum(name, str(default).lower(), list(_BOOL_WORDS), text, flag_values)
        else:
            flags.DEFINE_string(name, default, text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    """Build a (not yet validated) TrainConfig from parsed flags.

    Raises:
        ConfigError: a flag value that cannot become the field's type.
    """
    values: dict[str, Any] = {}
    for field, kind in _fields():
        value = flag_values[field.name].value
        if kind == "dict":
            value = parse_overrides(value)
        elif kind == "list":
            try:
                value = tuple(float(v) for v in value)
            except ValueError:
                raise ConfigError(
                    field.name, ",".join(value), "comma-separated numbers, e.g. 60,120,160"
                ) from None
        elif kind == "str_or_bool":
            value = _BOOL_WORDS[value]
        elif kind == "str" and field.default is None and value is not None:
            value = None if value.lower() in _NONE_WORDS else value
        values[field.name] = value
    # `--train_steps` (or `--time_budget_minutes`) alone sets the run's length, without also
    # clearing --epochs.
    length_set = values["train_steps"] is not None or values["time_budget_minutes"] is not None
    if length_set and not flag_values["epochs"].present:
        values["epochs"] = None
    return TrainConfig(**values)
