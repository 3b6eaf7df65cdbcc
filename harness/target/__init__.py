"""The target: its configuration, and launching and owning a backend."""
