"""What a user sees of a run: the progress line, metrics.csv, TensorBoard, curves.png, the
per-class reports, the gradient-norm report and the Grad-CAM pictures."""
