"""Where a run executes: the machine's facts, the distribution strategy and its replicas,
SIGTERM handling, and the fault-injection points the crash tests use."""
