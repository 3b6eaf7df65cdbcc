"""One TLS context for every HTTP client the harness makes.

httpx builds a new verifying context for each client it creates unless given one, and each
build reads the whole CA bundle: about 80 ms of CPU. A run makes dozens of clients (one per
probe user, one per stub poll), so a shared context saves seconds per run.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The default verifying context (certifi's CA bundle), built once per process."""
    return httpx.create_ssl_context()
