"""Repeated, interleaved timing: every figure is the median of several repetitions.

A contender is a function `contender(count) -> rate`: it does `count` units of work (training
steps, op calls, batches), waits for them to finish (a `.numpy()` of one of its results) and
returns its rate (images or FLOPs per second). `interleaved_rates` warms each contender up once
(tracing, caches, allocations), then runs the repetitions round-robin with the order rotated by
one each time (rep 1: a b c, rep 2: b c a, ...), so that slow drift of a shared machine hits
every contender alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

Contender = Callable[[int], float]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The rates of one contender over its repetitions.

    Attributes:
        samples: one rate per repetition, in the order they ran.
    """

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """The reported figure."""
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        """The slowest repetition."""
        return min(self.samples)

    @property
    def high(self) -> float:
        """The fastest repetition."""
        return max(self.samples)

    def to_dict(self) -> dict[str, Any]:
        """{"median", "min", "max", "samples"} as plain floats."""
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "samples": list(self.samples),
        }


def rate(work: Callable[[], Any], amount: float) -> float:
    """`amount / seconds` of one call of `work`, timed with `time.perf_counter`.

    Args:
        work: runs the work and returns only once it has finished (it syncs on a result).
        amount: how many units (images, FLOPs) one call processes.

    Returns:
        Units per second.
    """
    started = time.perf_counter()
    work()
    return amount / max(time.perf_counter() - started, 1e-12)


def interleaved_rates(
    contenders: Mapping[str, Contender],
    repetitions: int,
    count: int,
    *,
    warmup_count: int = 1,
    progress: Callable[[str, int, Measurement], None] | None = None,
) -> dict[str, Measurement]:
    """Runs each contender `repetitions` times, interleaved, after one warm-up call each.

    Args:
        contenders: name -> function that does `count` units of work and returns its rate.
        repetitions: timed calls per contender (at least 1).
        count: units of work per timed call.
        warmup_count: units of work of the untimed warm-up call (0: no warm-up).
        progress: called after every timed call with (name, repetition from 1, the
            contender's samples so far), e.g. to print a line while a long run goes on.

    Returns:
        name -> `Measurement`, in the order of `contenders`.

    Raises:
        ValueError: if `repetitions` or `count` < 1.
    """
    if repetitions < 1 or count < 1:
        raise ValueError(f"repetitions and count must be >= 1, got {repetitions}, {count}")
    names = list(contenders)
    if warmup_count:
        for name in names:
            contenders[name](warmup_count)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name](count))
            if progress is not None:
                progress(name, repetition + 1, Measurement(tuple(samples[name])))
    return {name: Measurement(tuple(samples[name])) for name in names}
