"""The top layer: a config planned once, a run's length fitted to a time budget, the runner and
run assembled from the plan, and `train`."""
