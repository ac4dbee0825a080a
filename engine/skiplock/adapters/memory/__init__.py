"""In-process adapters for the shared-state ports: what embedded mode runs on, held to
the same contract tests as the Redis adapters."""
