"""Results and where they go: the result model, sinks, artifacts, redaction."""
