"""The Evaluator's confusion matrix under a 2-replica MirroredStrategy (2 logical CPUs).

Prints `RESULT {json}`: for each (global batch, examples) case the metrics and the matrix, for
`test_per_class.test_two_replicas_count_the_same_matrix` to compare with the expected counts.
"""

from __future__ import annotations

from trainers.cli import end_process, skip_unused_imports

skip_unused_imports()  # as the binaries do, before TensorFlow is imported

import json  # noqa: E402

import tensorflow as tf  # noqa: E402
from test_per_class import evaluate_echo  # noqa: E402

from deepnets.training import configure_cpu_replicas  # noqa: E402

# 100 in 32s: the second replica's last batch is all padding. 37 in 8s: both get some.
CASES = ((32, 100), (8, 37))


def main() -> int:
    configure_cpu_replicas(2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    cases = []
    for global_batch, examples in CASES:
        metrics, confusion = evaluate_echo(strategy, global_batch, examples)
        cases.append({"examples": examples, "metrics": metrics, "confusion": confusion.tolist()})
    report = {"replicas": strategy.num_replicas_in_sync, "cases": cases}
    print("RESULT " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    end_process(main())  # as sys.exit would, without the teardown of TensorFlow's modules
