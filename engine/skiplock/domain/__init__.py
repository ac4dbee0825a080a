"""Pure domain logic: task states and transitions, retry backoff, the fair scheduler and
rate-limit arithmetic. Standard library only; no I/O, no clock reads, no hidden randomness."""
