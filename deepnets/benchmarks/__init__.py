"""What `deepnets-benchmark` measures, as a library: training throughput and FLOP utilisation.

    from deepnets.benchmarks import Settings, format_report, report_notes, run_benchmark
    result = run_benchmark(Settings(models=("vgg16",), repetitions=3))
    print(format_report(result.rows, report_notes(result)))

`run_benchmark` times the deepnets loop against Keras `fit` on the same networks, inference and
the input pipeline, interleaved with this machine's matmul and convolution peaks (`suite`, with
`runners`, `timing`, `peak`, `flops`); `table` prints the rows. `kernel_check` compares this
machine's float32 convolution kernels with a float64 reference. The binaries that parse flags
are `trainers/benchmark.py` (`deepnets-benchmark`) and `trainers/kernel_check.py`; this package
reads no flags and uses only the public API of `deepnets` and `deepnets.training`.
"""

from deepnets.benchmarks.cases import MODEL_CASES, ModelCase
from deepnets.benchmarks.flops import forward_flops, forward_macs
from deepnets.benchmarks.kernel_check import check_kernels, format_findings
from deepnets.benchmarks.notes import report_notes
from deepnets.benchmarks.peak import PeakSizes
from deepnets.benchmarks.suite import BenchmarkResult, Settings, run_benchmark
from deepnets.benchmarks.table import format_report
from deepnets.benchmarks.timing import Measurement, interleaved_rates

__all__ = [
    "MODEL_CASES",
    "BenchmarkResult",
    "Measurement",
    "ModelCase",
    "PeakSizes",
    "Settings",
    "check_kernels",
    "forward_flops",
    "forward_macs",
    "format_findings",
    "format_report",
    "interleaved_rates",
    "report_notes",
    "run_benchmark",
]
