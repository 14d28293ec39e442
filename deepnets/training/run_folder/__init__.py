"""The run folder: `RunFolder` (its paths by the one layout table, atomic writes, lock and
record), its checkpoints, restoring a model from it, starting weights, and the exported model
files."""
