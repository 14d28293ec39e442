"""Where a run executes: the machine's facts, the distribution strategy and its replicas,
SIGTERM handling, the fault-injection points the crash tests use, and the check of oneDNN's
convolution kernels on this CPU (`kernel_check`, `kernel_verdicts`)."""
