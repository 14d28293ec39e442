"""The run folder: its record, checkpoints, lock and atomic writes, restoring a model from it,
starting weights, and the exported model files."""
