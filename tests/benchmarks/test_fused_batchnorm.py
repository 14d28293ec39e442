"""benchmarks.fused_batchnorm: the deepnets loop with the fused kernel against Keras' path."""

from benchmarks.fused_batchnorm import compare, format_row, keras_path
from deepnets.layers import BatchNormalization


def test_the_keras_contender_traces_with_the_switch_off_and_restores_it():
    seen = []
    contender = keras_path(lambda count: seen.append(BatchNormalization.use_fused_kernel) or 1.0)
    assert contender(3) == 1.0
    assert seen == [False] and BatchNormalization.use_fused_kernel is True


def test_both_loops_train_and_the_row_shows_their_ratio():
    rates = compare("resnet18_w16", repetitions=2, steps=1, batch_size=4)
    assert set(rates) == {"fused", "keras"}
    assert all(len(m.samples) == 2 and min(m.samples) > 0 for m in rates.values())
    assert BatchNormalization.use_fused_kernel is True
    row = format_row("resnet18_w16", 4, rates)
    assert row.startswith("resnet18_w16") and row.endswith(
        f"{rates['fused'].median / rates['keras'].median:.2f}"
    )
