"""The loop: the training step and its parts (the training options, `loop.parts`), the runner
that runs steps and evaluations of any model on any data, and the controller that decides when
to evaluate, checkpoint, report and stop."""
