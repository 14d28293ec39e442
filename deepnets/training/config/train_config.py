"""`TrainConfig`: everything that defines one training run, in one validated dataclass.

Each field carries its own documentation and check in its metadata (`setting(...)`): the binaries
make one flag per field from it (help text and type included) and `validate()` runs the checks.
The library only reads this object, never absl flags. Every bad value raises a `ConfigError`
whose attributes name the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from deepnets.checks import ArgumentError
from deepnets.training.config.fields import (
    BOOL,
    DECOUPLED_BY_DEFAULT,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE_INT,
    ConfigError,
    choice,
    number_range,
    optional,
    setting,
)
from deepnets.training.config.stopping import StoppingSettings

WEIGHT_DECAY_MODES = ("auto", "l2", "decoupled")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION_POLICIES = (None, "auto", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE_CHOICES = ("auto", True, False)


@dataclasses.dataclass
class TrainConfig(StoppingSettings):
    """The single source of truth for a training run (see each field's help).

    Its first fields (what to train, on which images, from which weights) are those of
    `InputSettings`; then `OptimizationSettings` (length, batch, optimizer, schedule), then
    `StoppingSettings` (best checkpoint, early stopping, what is exported). Exactly
    one of `epochs`, `train_steps` and `time_budget_minutes` sets the length of the run. An
    epoch is `num_train_examples // global_batch_size` steps (the remainder is dropped).
    """

    # Regularization.
    weight_decay: float = setting(
        5e-4, "Weight decay of conv and dense kernels (0: none).", NONNEGATIVE
    )
    weight_decay_mode: str = setting(
        "auto",
        "l2: the gradient of weight_decay * sum(w^2) / 2 is added to the kernels' gradients (the "
        "classic recipe; applied in the step, not as a loss term); decoupled: the optimizer "
        "shrinks kernels by lr * weight_decay * w; auto: decoupled for adamw, lion, lamb and "
        "muon, else l2. Biases and BatchNorm parameters are never decayed.",
        choice(*WEIGHT_DECAY_MODES),
    )
    label_smoothing: float = setting(0.0, "Label smoothing of the cross-entropy.", FRACTION)
    bn_bias_lr_multiplier: float = setting(
        1.0,
        "Multiply the learning rate of BatchNorm offsets (betas) by this (airbench: 64), by "
        "scaling their gradients: optimizer='sgd' only, without clip_grad_norm (0 or 1 with "
        "any optimizer: 0 freezes them).",
        NONNEGATIVE,
    )
    bn_scale_lr_multiplier: float = setting(
        1.0,
        "The same for BatchNorm scales (gammas); 0 keeps them at 1 (airbench's BatchNorm).",
        NONNEGATIVE,
    )
    eval_flip: bool = setting(
        False,
        "Test-time flip averaging: evaluation, prediction and the exported model score each "
        "image by the mean of its and its mirror image's probabilities.",
        BOOL,
    )
    eval_translate: int = setting(
        0,
        "Test-time multi-crop averaging (airbench's): evaluation, prediction and the exported "
        "model also score each image shifted by this many pixels up-left and down-right (edges "
        "reflected; with their mirrors too under eval_flip); the unshifted views weigh as much "
        "as the shifted ones together. 0: none.",
        NONNEGATIVE_INT,
    )
    ema_decay: float | None = setting(
        None,
        "Keep an exponential moving average of the weights with this decay (e.g. 0.999) and "
        "evaluate, checkpoint and export it; None: the weights as trained.",
        optional(number_range(0.0, 1.0, low_inclusive=False, high_inclusive=False)),
    )
    lookahead_steps: int = setting(
        0,
        "Lookahead (airbench's): every this many steps, slow weights move toward the trained "
        "weights by 1 - d and the trained weights are set to them, with d = lookahead_decay ** "
        "lookahead_steps * (step / total steps) ** 3 (no pull early, the strongest at the end). "
        "0: none.",
        NONNEGATIVE_INT,
    )
    lookahead_decay: float = setting(
        0.95,
        "The lookahead's per-step decay at the end of the run (see lookahead_steps).",
        number_range(0.0, 1.0, low_inclusive=False, high_inclusive=False),
    )

    # Devices and speed.
    strategy: str = setting(
        "auto",
        "auto (TPU if tpu is set, multi_worker if TF_CONFIG has several tasks, mirrored with "
        "several GPUs or cpu_replicas > 1, else one_device), one_device, mirrored, "
        "multi_worker or tpu.",
        choice(*STRATEGIES),
    )
    tpu: str | None = setting(None, "TPU name or address for strategy=tpu ('local' on a TPU VM).")
    cpu_replicas: int = setting(
        1, "Split the CPU into this many logical devices (tests, CPU-only runs).", POSITIVE_INT
    )
    intra_op_threads: int = setting(
        0,
        "Threads one TensorFlow op may use (0: TensorFlow's default, the core count). Fixed "
        "when TensorFlow starts: set it in a fresh process.",
        NONNEGATIVE_INT,
    )
    inter_op_threads: int = setting(
        0,
        "TensorFlow ops that may run at once (0: TensorFlow's default; 1 keeps independent ops "
        "from competing for a small CPU's cores). Fixed when TensorFlow starts.",
        NONNEGATIVE_INT,
    )
    mixed_precision: str | None = setting(
        None,
        "None (float32), mixed_float16 (with loss scaling), mixed_bfloat16, or auto: "
        "mixed_bfloat16 on TPUs and on CPUs with bfloat16 units (AMX: 2.4-3.2x faster there; "
        "AVX-512 BF16: about 1.5x), "
        "mixed_float16 on GPUs with tensor cores, float32 elsewhere.",
        choice(*MIXED_PRECISION_POLICIES),
    )
    jit_compile: str | bool = setting(
        "auto",
        "XLA: auto (on for GPU/TPU, off on CPU), true or false.",
        choice(*JIT_COMPILE_CHOICES),
    )
    steps_per_loop: int = setting(
        50, "Steps run inside one tf.function call between host-side reports.", POSITIVE_INT
    )

    # Checkpoints, evaluation and reports.
    checkpoint_every_steps: int | None = setting(
        None, "Checkpoint period in steps (default: every epoch).", OPTIONAL_POSITIVE_INT
    )
    keep_checkpoints: int = setting(3, "Checkpoints kept on disk.", POSITIVE_INT)
    eval_every_steps: int | None = setting(
        None,
        "Evaluation period in steps (default: every epoch; 0: only at the end of the run).",
        optional(NONNEGATIVE_INT),
    )
    log_every_steps: int | None = setting(
        None,
        "Print a progress line at most this often (default: every loop).",
        OPTIONAL_POSITIVE_INT,
    )
    log_gradient_norms: bool = setting(
        False,
        "Record the gradient norm of every layer with weights (stem, blocks, classifier) once "
        "per loop, to gradient_norms.csv, TensorBoard and gradient_norms.png.",
        BOOL,
    )
    seed: int | None = setting(
        0,
        "Seed of weights, data order and augmentation (None: random).",
        optional(NONNEGATIVE_INT),
    )
    deterministic: bool = setting(False, "Make every op deterministic (needs a seed).", BOOL)
    export_saved_model: bool = setting(
        True, "Also export a SavedModel next to final.keras at the end.", BOOL
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
        lengths = (self.epochs, self.train_steps, self.time_budget_minutes)
        if sum(value is not None for value in lengths) != 1:
            raise ConfigError(
                "epochs",
                self.epochs,
                reason="set exactly one of `epochs`, `train_steps` and `time_budget_minutes`; "
                f"got epochs={self.epochs!r}, train_steps={self.train_steps!r}, "
                f"time_budget_minutes={self.time_budget_minutes!r}.",
            )
        rules = (
            (
                "nesterov",
                self.nesterov and self.optimizer not in ("sgd", "muon"),
                "False unless optimizer='sgd' or 'muon'",
            ),
            (
                "weight_decay_mode",
                self.optimizer == "adamw" and self.weight_decay_mode == "l2",
                "'auto' or 'decoupled' with optimizer='adamw' (for L2 decay use 'adam')",
            ),
            *(
                (
                    name,
                    getattr(self, name) not in (0.0, 1.0)
                    and (self.optimizer != "sgd" or self.clip_grad_norm is not None),
                    "0.0 (frozen) or 1.0 unless optimizer='sgd' without clip_grad_norm (it "
                    "scales gradients)",
                )
                for name in ("bn_bias_lr_multiplier", "bn_scale_lr_multiplier")
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
        self.check_stopping()
        return self

    @property
    def resolved_weight_decay_mode(self) -> str:
        """ "l2" or "decoupled": what `weight_decay_mode` means for this optimizer."""
        if self.weight_decay_mode != "auto":
            return self.weight_decay_mode
        return "decoupled" if self.optimizer in DECOUPLED_BY_DEFAULT else "l2"

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
