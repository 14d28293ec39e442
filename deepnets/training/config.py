"""`TrainConfig`: everything that defines one training run, in one validated dataclass.

Each field carries its own documentation and check in its metadata (`setting(...)`): the binaries
make one flag per field from it (help text and type included) and `validate()` runs the checks.
The library only reads this object, never absl flags. Every bad value raises a `ConfigError`
whose attributes name the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

from deepnets import checks
from deepnets.checks import ArgumentError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
WEIGHT_DECAY_MODES = ("auto", "l2", "decoupled")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION_POLICIES = (None, "mixed_float16", "mixed_bfloat16")
JIT_COMPILE_CHOICES = ("auto", True, False)
OWNER = "TrainConfig"

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


def _choice(*allowed: Any) -> Check:
    def check(name: str, value: Any) -> None:
        checks.check_choice(name, value, allowed, owner=OWNER)

    check.choices = allowed  # the flag help lists them
    return check


def _range(low: float, high: float, **inclusive: bool) -> Check:
    return lambda name, value: checks.check_in_range(
        name, value, low, high, owner=OWNER, **inclusive
    )


def _simple(function: Callable[..., Any]) -> Check:
    return lambda name, value: function(name, value, owner=OWNER)


def _optional(check: Check) -> Check:
    return lambda name, value: None if value is None else check(name, value)


def _overrides(name: str, value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ArgumentError(name, value, "a dict of model builder keyword arguments", owner=OWNER)


_POSITIVE_INT = _simple(checks.check_positive_int)
_OPTIONAL_POSITIVE_INT = _simple(checks.check_optional_positive_int)
_NONNEGATIVE_INT = _simple(checks.check_nonnegative_int)
_BOOL = _simple(checks.check_bool)
_NAME = _simple(checks.check_nonempty_str)
_POSITIVE_FLOAT = _simple(checks.check_positive_float)
_FRACTION = _range(0.0, 1.0, high_inclusive=False)
_NONNEGATIVE = _range(0.0, float("inf"))


@dataclasses.dataclass
class TrainConfig:
    """The single source of truth for a training run (see each field's help).

    Exactly one of `epochs` and `train_steps` sets the length of the run. An epoch is
    `num_train_examples // global_batch_size` steps (the remainder is dropped).
    """

    # What to train, on what, and where the run folder is.
    model: str = setting("resnet18", "Registry name of the model, e.g. resnet18, vgg16_bn.", _NAME)
    model_overrides: dict[str, Any] = setting(
        None,
        "Keyword arguments for the model builder, e.g. stem=cifar,width=16.",
        _overrides,
        factory=dict,
    )
    dataset: str = setting(
        "shapes10", "Dataset: shapes10 (generated offline) or a tfds dataset name.", _NAME
    )
    data_dir: str | None = setting(None, "Where tfds datasets live (default: tfds' own).")
    download: bool = setting(True, "Let tfds download a dataset missing from data_dir.", _BOOL)
    image_size: int | None = setting(
        None,
        "Side of the square model input (default: the dataset's size).",
        _OPTIONAL_POSITIVE_INT,
    )
    model_dir: str = setting(
        "runs/default", "Run folder: checkpoints, reports, run record, final model.", _NAME
    )

    # Length and batch.
    epochs: int | None = setting(
        10, "Epochs to train (or set train_steps).", _OPTIONAL_POSITIVE_INT
    )
    train_steps: int | None = setting(
        None, "Optimizer steps to train (instead of epochs).", _OPTIONAL_POSITIVE_INT
    )
    global_batch_size: int = setting(128, "Examples per step, over all replicas.", _POSITIVE_INT)
    eval_batch_size: int | None = setting(
        None, "Global evaluation batch size (default: global_batch_size).", _OPTIONAL_POSITIVE_INT
    )

    # Optimizer.
    optimizer: str = setting("sgd", "sgd (momentum), adam or adamw.", _choice(*OPTIMIZERS))
    learning_rate: float = setting(
        0.1, "Peak learning rate, reached after warmup.", _POSITIVE_FLOAT
    )
    momentum: float = setting(0.9, "SGD momentum.", _FRACTION)
    nesterov: bool = setting(False, "Nesterov momentum (sgd only).", _BOOL)
    beta_1: float = setting(0.9, "Adam/AdamW first-moment decay.", _FRACTION)
    beta_2: float = setting(0.999, "Adam/AdamW second-moment decay.", _FRACTION)
    epsilon: float = setting(1e-7, "Adam/AdamW epsilon.", _POSITIVE_FLOAT)

    # Learning-rate schedule.
    schedule: str = setting(
        "cosine", "constant, step or cosine, each after linear warmup.", _choice(*SCHEDULES)
    )
    warmup_epochs: float = setting(
        0.0, "Linear warmup in epochs (may be fractional).", _NONNEGATIVE
    )
    warmup_steps: int | None = setting(
        None, "Linear warmup in steps; overrides warmup_epochs.", _optional(_NONNEGATIVE_INT)
    )
    decay_epochs: Sequence[float] = setting(
        (30.0, 60.0, 80.0),
        "Epochs at which the step schedule multiplies the rate by decay_factor.",
        _simple(checks.check_increasing),
    )
    decay_factor: float = setting(
        0.1, "Multiplier at each decay epoch.", _range(0.0, 1.0, low_inclusive=False)
    )
    min_learning_rate_ratio: float = setting(
        0.0, "The cosine schedule ends at learning_rate times this.", _range(0.0, 1.0)
    )

    # Regularization.
    weight_decay: float = setting(
        5e-4, "Weight decay of conv and dense kernels (0: none).", _NONNEGATIVE
    )
    weight_decay_mode: str = setting(
        "auto",
        "l2: weight_decay * sum(w^2) / 2 in the loss (the classic recipe); decoupled: the "
        "optimizer shrinks kernels by lr * weight_decay * w; auto: decoupled for adamw, else l2. "
        "Biases and BatchNorm parameters are never decayed.",
        _choice(*WEIGHT_DECAY_MODES),
    )
    label_smoothing: float = setting(0.0, "Label smoothing of the cross-entropy.", _FRACTION)

    # Devices and speed.
    strategy: str = setting(
        "auto",
        "auto (TPU if tpu is set, multi_worker if TF_CONFIG has several tasks, mirrored with "
        "several GPUs or cpu_replicas > 1, else one_device), one_device, mirrored, "
        "multi_worker or tpu.",
        _choice(*STRATEGIES),
    )
    tpu: str | None = setting(None, "TPU name or address for strategy=tpu ('local' on a TPU VM).")
    cpu_replicas: int = setting(
        1, "Split the CPU into this many logical devices (tests, CPU-only runs).", _POSITIVE_INT
    )
    mixed_precision: str | None = setting(
        None,
        "None (float32), mixed_float16 (with loss scaling) or mixed_bfloat16.",
        _choice(*MIXED_PRECISION_POLICIES),
    )
    jit_compile: str | bool = setting(
        "auto",
        "XLA: auto (on for GPU/TPU, off on CPU), true or false.",
        _choice(*JIT_COMPILE_CHOICES),
    )
    steps_per_loop: int = setting(
        50, "Steps run inside one tf.function call between host-side reports.", _POSITIVE_INT
    )

    # Checkpoints, evaluation and reports.
    checkpoint_every_steps: int | None = setting(
        None, "Checkpoint period in steps (default: every epoch).", _OPTIONAL_POSITIVE_INT
    )
    keep_checkpoints: int = setting(3, "Checkpoints kept on disk.", _POSITIVE_INT)
    eval_every_steps: int | None = setting(
        None, "Evaluation period in steps (default: every epoch).", _OPTIONAL_POSITIVE_INT
    )
    log_every_steps: int | None = setting(
        None,
        "Print a progress line at most this often (default: every loop).",
        _OPTIONAL_POSITIVE_INT,
    )
    seed: int | None = setting(
        0,
        "Seed of weights, data order and augmentation (None: random).",
        _optional(_NONNEGATIVE_INT),
    )
    deterministic: bool = setting(False, "Make every op deterministic (needs a seed).", _BOOL)
    export_saved_model: bool = setting(
        True, "Also export a SavedModel next to final.keras at the end.", _BOOL
    )

    def validate(self) -> TrainConfig:
        """Checks every field, then the rules between fields.

        Returns:
            self, so that `cfg = TrainConfig(...).validate()` reads naturally.

        Raises:
            ConfigError: naming the first bad field, its value and what is allowed.
        """
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            if check is not None:
                try:
                    check(field.name, getattr(self, field.name))
                except ArgumentError as err:
                    raise ConfigError(err.name, err.value, err.allowed, reason=err.reason) from None
        if (self.epochs is None) == (self.train_steps is None):
            raise ConfigError(
                "epochs",
                self.epochs,
                reason="set exactly one of `epochs` and `train_steps`; got "
                f"epochs={self.epochs!r}, train_steps={self.train_steps!r}.",
            )
        rules = (
            ("nesterov", self.nesterov and self.optimizer != "sgd", "False unless optimizer='sgd'"),
            (
                "weight_decay_mode",
                self.optimizer == "adamw" and self.weight_decay_mode == "l2",
                "'auto' or 'decoupled' with optimizer='adamw' (for L2 in the loss use 'adam')",
            ),
            (
                "tpu",
                self.strategy == "tpu" and not self.tpu,
                "a TPU name or address with strategy='tpu'",
            ),
            (
                "seed",
                self.deterministic and self.seed is None,
                "an integer when deterministic=True",
            ),
        )
        for name, broken, allowed in rules:
            if broken:
                raise ConfigError(name, getattr(self, name), allowed)
        return self

    @property
    def resolved_weight_decay_mode(self) -> str:
        """ "l2" or "decoupled": what `weight_decay_mode` means for this optimizer."""
        if self.weight_decay_mode != "auto":
            return self.weight_decay_mode
        return "decoupled" if self.optimizer == "adamw" else "l2"

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-compatible Python values."""
        values = dataclasses.asdict(self)
        values["decay_epochs"] = list(self.decay_epochs)
        return values

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Builds a config from `to_dict()` output, rejecting unknown keys.

        Args:
            values: field name -> value.

        Returns:
            A new `TrainConfig` (not yet validated).

        Raises:
            ValueError: if a key is not a field of `TrainConfig`.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown field(s) {unknown}; known: {sorted(known)}.")
        values = dict(values)
        if "decay_epochs" in values:
            values["decay_epochs"] = tuple(values["decay_epochs"])
        return cls(**values)

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Field name -> help text, from each field's metadata."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
