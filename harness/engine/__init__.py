"""Record, then judge: probes, scheduling, preconditions, evidence."""
