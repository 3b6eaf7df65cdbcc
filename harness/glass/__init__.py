"""Glass-box mode: the model stub and readers of what reached the model."""
