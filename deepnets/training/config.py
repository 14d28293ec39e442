"""`TrainConfig`: everything that defines one training run, in one validated dataclass.

Binaries fill it from flags; the library only reads this object (never absl flags). Every value is
checked by `TrainConfig.validate()`, which raises a `ValueError` naming the field, the value it got
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
WEIGHT_DECAY_MODES = ("auto", "l2", "decoupled")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION_POLICIES = (None, "mixed_float16", "mixed_bfloat16")
JIT_COMPILE_CHOICES = ("auto", True, False)


@dataclasses.dataclass
class TrainConfig:
    """The single source of truth for a training run.

    Exactly one of `epochs` and `train_steps` sets the length of the run. An epoch is
    `num_train_examples // global_batch_size` steps (the remainder is dropped).

    Attributes:
        model: registry name of the model, e.g. "resnet18", "vgg16_bn".
        model_overrides: keyword arguments for the model builder, e.g. {"stem": "cifar"}.
        dataset: dataset name ("shapes10" is generated offline; any tfds classification set).
        data_dir: where tfds data lives (None: the tfds default).
        download: let tfds download a dataset that is not in `data_dir`.
        image_size: side of the square input images (None: the dataset's own size).
        model_dir: folder for checkpoints, TensorBoard, metrics.csv, curves.png and the model.
        epochs: number of epochs to train (or None when `train_steps` is set).
        train_steps: number of optimizer steps to train (or None when `epochs` is set).
        global_batch_size: examples per step, summed over all replicas.
        eval_batch_size: global batch size for evaluation (None: `global_batch_size`).
        optimizer: "sgd" (momentum, optionally Nesterov), "adam" or "adamw".
        learning_rate: peak learning rate, reached at the end of warmup.
        momentum: SGD momentum.
        nesterov: use Nesterov momentum with SGD.
        beta_1: Adam/AdamW first-moment decay.
        beta_2: Adam/AdamW second-moment decay.
        epsilon: Adam/AdamW epsilon.
        schedule: "constant", "step" (piecewise constant) or "cosine", each after linear warmup.
        warmup_epochs: linear warmup length in epochs (may be fractional).
        warmup_steps: linear warmup length in steps; when set it overrides `warmup_epochs`.
        decay_epochs: epochs at which the "step" schedule multiplies the rate by `decay_factor`.
        decay_factor: multiplier applied at each of `decay_epochs`.
        min_learning_rate_ratio: "cosine" ends at `learning_rate * min_learning_rate_ratio`.
        weight_decay: weight decay coefficient (0 disables it).
        weight_decay_mode: "l2" adds `weight_decay * sum(||w||^2) / 2` over conv/dense kernels to
            the loss (the classic ResNet recipe); "decoupled" lets the optimizer shrink those
            kernels directly by `learning_rate * weight_decay * w` each step (AdamW / SGDW style);
            "auto" is "decoupled" for adamw and "l2" otherwise. Biases and BatchNorm parameters
            are never decayed.
        label_smoothing: label smoothing of the cross-entropy, in [0, 1).
        strategy: "auto", "one_device", "mirrored", "multi_worker" or "tpu".
        tpu: TPU name or address for the TPU strategy ("local" on a TPU VM).
        cpu_replicas: split the CPU into this many logical devices (tests, CPU-only machines).
        mixed_precision: None (float32), "mixed_float16" (with loss scaling) or "mixed_bfloat16".
        jit_compile: "auto" (XLA on GPU/TPU, off on CPU), True or False.
        steps_per_loop: steps run inside one `tf.function` call between host-side reports.
        checkpoint_every_steps: checkpoint period in steps (None: at the end of every epoch).
        keep_checkpoints: number of checkpoints kept on disk.
        eval_every_steps: evaluation period in steps (None: at the end of every epoch).
        log_every_steps: print a progress line at most this often (None: after every loop).
        seed: seed of weights, data order and augmentation (None: nondeterministic).
        deterministic: make every op deterministic (needs a seed; slower).
        export_saved_model: also export a SavedModel next to the `.keras` file at the end.
    """

    model: str = "resnet18"
    model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset: str = "shapes10"
    data_dir: str | None = None
    download: bool = True
    image_size: int | None = None
    model_dir: str = "runs/default"

    epochs: int | None = 10
    train_steps: int | None = None
    global_batch_size: int = 128
    eval_batch_size: int | None = None

    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_steps: int | None = None
    decay_epochs: Sequence[float] = (30.0, 60.0, 80.0)
    decay_factor: float = 0.1
    min_learning_rate_ratio: float = 0.0

    weight_decay: float = 5e-4
    weight_decay_mode: str = "auto"
    label_smoothing: float = 0.0

    strategy: str = "auto"
    tpu: str | None = None
    cpu_replicas: int = 1
    mixed_precision: str | None = None
    jit_compile: str | bool = "auto"
    steps_per_loop: int = 50

    checkpoint_every_steps: int | None = None
    keep_checkpoints: int = 3
    eval_every_steps: int | None = None
    log_every_steps: int | None = None
    seed: int | None = 0
    deterministic: bool = False
    export_saved_model: bool = True

    def validate(self) -> TrainConfig:
        """Checks every field.

        Returns:
            self, so that `cfg = TrainConfig(...).validate()` reads naturally.

        Raises:
            ValueError: naming the first bad field, its value and the allowed values.
        """
        _check_nonempty_str("model", self.model)
        _check_nonempty_str("dataset", self.dataset)
        _check_nonempty_str("model_dir", self.model_dir)
        if not isinstance(self.model_overrides, dict):
            _fail("model_overrides", self.model_overrides, "a dict of builder keyword arguments")
        _check_optional_positive_int("image_size", self.image_size)

        if (self.epochs is None) == (self.train_steps is None):
            raise ValueError(
                "TrainConfig: set exactly one of `epochs` and `train_steps`; got "
                f"epochs={self.epochs!r}, train_steps={self.train_steps!r}."
            )
        _check_optional_positive_int("epochs", self.epochs)
        _check_optional_positive_int("train_steps", self.train_steps)
        _check_positive_int("global_batch_size", self.global_batch_size)
        _check_optional_positive_int("eval_batch_size", self.eval_batch_size)

        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_positive_float("learning_rate", self.learning_rate)
        _check_in_range("momentum", self.momentum, 0.0, 1.0, high_inclusive=False)
        _check_bool("nesterov", self.nesterov)
        if self.nesterov and self.optimizer != "sgd":
            _fail("nesterov", self.nesterov, "False unless optimizer='sgd'")
        _check_in_range("beta_1", self.beta_1, 0.0, 1.0, high_inclusive=False)
        _check_in_range("beta_2", self.beta_2, 0.0, 1.0, high_inclusive=False)
        _check_positive_float("epsilon", self.epsilon)

        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_in_range("warmup_epochs", self.warmup_epochs, 0.0, math.inf)
        if self.warmup_steps is not None:
            _check_nonnegative_int("warmup_steps", self.warmup_steps)
        _check_decay_epochs(self.decay_epochs)
        _check_in_range("decay_factor", self.decay_factor, 0.0, 1.0, low_inclusive=False)
        _check_in_range("min_learning_rate_ratio", self.min_learning_rate_ratio, 0.0, 1.0)

        _check_in_range("weight_decay", self.weight_decay, 0.0, math.inf)
        _check_choice("weight_decay_mode", self.weight_decay_mode, WEIGHT_DECAY_MODES)
        if self.optimizer == "adamw" and self.weight_decay_mode == "l2":
            _fail(
                "weight_decay_mode",
                self.weight_decay_mode,
                "'auto' or 'decoupled' with optimizer='adamw' (for L2 in the loss use 'adam')",
            )
        _check_in_range("label_smoothing", self.label_smoothing, 0.0, 1.0, high_inclusive=False)

        _check_choice("strategy", self.strategy, STRATEGIES)
        if self.strategy == "tpu" and not self.tpu:
            _fail("tpu", self.tpu, "a TPU name or address (e.g. 'local') when strategy='tpu'")
        _check_positive_int("cpu_replicas", self.cpu_replicas)
        _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION_POLICIES)
        _check_choice("jit_compile", self.jit_compile, JIT_COMPILE_CHOICES)
        _check_positive_int("steps_per_loop", self.steps_per_loop)

        _check_optional_positive_int("checkpoint_every_steps", self.checkpoint_every_steps)
        _check_positive_int("keep_checkpoints", self.keep_checkpoints)
        _check_optional_positive_int("eval_every_steps", self.eval_every_steps)
        _check_optional_positive_int("log_every_steps", self.log_every_steps)
        if self.seed is not None:
            _check_nonnegative_int("seed", self.seed)
        _check_bool("deterministic", self.deterministic)
        if self.deterministic and self.seed is None:
            _fail("seed", self.seed, "an integer when deterministic=True")
        _check_bool("download", self.download)
        _check_bool("export_saved_model", self.export_saved_model)
        return self

    @property
    def resolved_weight_decay_mode(self) -> str:
        """ "l2" or "decoupled": what `weight_decay_mode` means for this optimizer."""
        if self.weight_decay_mode != "auto":
            return self.weight_decay_mode
        return "decoupled" if self.optimizer == "adamw" else "l2"

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as plain JSON-compatible Python values."""
        values = dataclasses.asdict(self)
        values["decay_epochs"] = list(self.decay_epochs)
        return values

    def to_json(self) -> str:
        """Returns the config as indented JSON (written to model_dir/config.json by `train`)."""
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


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ValueError(f"TrainConfig.{name}={value!r} is invalid: expected {allowed}.")


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    # `True in (1,)` is True in Python, so compare types as well as values.
    if not any(value == c and type(value) is type(c) for c in choices):
        _fail(name, value, "one of " + ", ".join(repr(c) for c in choices))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_positive_int(name: str, value: Any) -> None:
    if not _is_int(value) or value <= 0:
        _fail(name, value, "a positive integer")


def _check_optional_positive_int(name: str, value: Any) -> None:
    if value is not None and (not _is_int(value) or value <= 0):
        _fail(name, value, "None or a positive integer")


def _check_nonnegative_int(name: str, value: Any) -> None:
    if not _is_int(value) or value < 0:
        _fail(name, value, "a non-negative integer")


def _check_positive_float(name: str, value: Any) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        _fail(name, value, "a finite number > 0")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(name, value, "True or False")


def _check_nonempty_str(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        _fail(name, value, "a non-empty string")


def _check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    ok = _is_number(value) and not math.isnan(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (
            value <= high if high_inclusive else value < high
        )
    if not ok:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        _fail(name, value, f"a number in {left}{low}, {high}{right}")


def _check_decay_epochs(value: Any) -> None:
    allowed = "a strictly increasing sequence of positive numbers"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail("decay_epochs", value, allowed)
    if not all(_is_number(v) and v > 0 for v in value):
        _fail("decay_epochs", value, allowed)
    if any(b <= a for a, b in itertools.pairwise(value)):
        _fail("decay_epochs", value, allowed)
