"""absl flags for `TrainConfig`, generated from its fields so that each option is written once.

Every field of `deepnets.training.TrainConfig` becomes a flag of the same name, with the help text
of the field's docstring entry and the field's default. `config_from_flags` turns parsed flags
back into a `TrainConfig`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

from absl import flags

from deepnets.training import TrainConfig

_NONE_WORDS = ("", "none", "null", "float32")


class FlagError(ValueError):
    """A flag value that cannot be used; the message starts with the flag's name."""


def _field_help() -> dict[str, str]:
    """Field name -> help text, read from the "Attributes:" section of TrainConfig's docstring."""
    doc = TrainConfig.__doc__ or ""
    section = doc.split("Attributes:", 1)[-1]
    helps: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^\s{8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            helps[current] = match.group(2).strip()
        elif current and line.strip():
            helps[current] += " " + line.strip()
    return helps


def parse_overrides(text: str) -> dict[str, Any]:
    """Parse "stem=cifar,width=16,zero_init_residual=True" into a dict of Python values.

    Values are read as Python literals where they parse (numbers, True/False/None, tuples in
    parentheses) and as strings otherwise.
    """
    result: dict[str, Any] = {}
    if not text.strip():
        return result
    for item in re.split(r",(?![^()\[\]]*[)\]])", text):
        if "=" not in item:
            raise FlagError(
                f"--model_overrides: {item!r} is not KEY=VALUE; write e.g. "
                "--model_overrides=stem=cifar,width=16"
            )
        key, value = (part.strip() for part in item.split("=", 1))
        try:
            result[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            result[key] = value
    return result


def define_train_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Define one flag per TrainConfig field, with its default and help text."""
    helps = _field_help()
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        name, default, kind = field.name, getattr(defaults, field.name), str(field.type)
        text = helps.get(name, name)
        if name == "model_overrides":
            flags.DEFINE_string(name, "", text + " Format: KEY=VALUE,...", flag_values=flag_values)
        elif name == "decay_epochs":
            flags.DEFINE_list(name, [str(v) for v in default], text, flag_values=flag_values)
        elif name == "jit_compile":
            flags.DEFINE_enum(
                name, "auto", ["auto", "true", "false"], text, flag_values=flag_values
            )
        elif kind == "bool":
            flags.DEFINE_boolean(name, default, text, flag_values=flag_values)
        elif kind.startswith("int"):
            flags.DEFINE_integer(name, default, text, flag_values=flag_values)
        elif kind.startswith("float"):
            flags.DEFINE_float(name, default, text, flag_values=flag_values)
        else:
            flags.DEFINE_string(name, default, text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    """Build a (not yet validated) TrainConfig from parsed flags."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(TrainConfig):
        value = flag_values[field.name].value
        if field.name == "model_overrides":
            value = parse_overrides(value)
        elif field.name == "decay_epochs":
            try:
                value = tuple(float(v) for v in value)
            except ValueError as err:
                raise FlagError(
                    f"--decay_epochs={','.join(value)} is invalid: expected comma-separated "
                    "numbers, e.g. 60,120,160"
                ) from err
        elif field.name == "jit_compile":
            value = {"auto": "auto", "true": True, "false": False}[value]
        elif field.name in ("mixed_precision", "tpu", "data_dir") and value is not None:
            value = None if value.lower() in _NONE_WORDS else value
        values[field.name] = value
    # `--train_steps` alone means "train for that many steps", without also clearing --epochs.
    if values["train_steps"] is not None and not flag_values["epochs"].present:
        values["epochs"] = None
    return TrainConfig(**values)
