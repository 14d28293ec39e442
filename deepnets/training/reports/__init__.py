"""What a user sees of a run: the progress line, metrics.csv, TensorBoard, curves.png, the
per-class reports and the gradient-norm report."""
