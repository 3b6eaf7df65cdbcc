"""Exit codes shared by every command, and the one line an unexpected error prints."""

from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_HARNESS = 0, 1, 2


def internal_error(exc: Exception) -> int:
    """Never a traceback: one line on stderr and exit 2 (CHATKIT_HARNESS_DEBUG=1 re-raises)."""
    if os.environ.get("CHATKIT_HARNESS_DEBUG"):
        raise exc
    text = str(exc).splitlines()[0] if str(exc) else ""
    print(
        f"chatkit-harness: internal error: {type(exc).__name__}: {text} "
        "(set CHATKIT_HARNESS_DEBUG=1 for the traceback)",
        file=sys.stderr,
    )
    return EXIT_HARNESS
