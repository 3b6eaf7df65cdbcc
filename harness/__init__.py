"""chatkit-harness: conformance and diagnostics for OpenAI ChatKit deployments."""

__version__ = "0.1.0"
