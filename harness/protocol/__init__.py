"""Talking ChatKit: the client, the SSE parser, raw HTTP, event validation, timing."""
