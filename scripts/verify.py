#!/usr/bin/env python3
"""Health check: ``python scripts/verify.py [URL] [chatkit-harness run options]``.

With no URL it starts the bundled reference server and checks that, so it works out of the box.
Prints one line per check (✓ / ✗) and a verdict; exit 0 healthy, 1 a check failed, 2 the
harness could not run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout without installing: the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        args = ["--url", args[0], *args[1:]]
    if "--rich" not in args:
        args.append("--plain")  # the health check's contract: one ✓ / ✗ line per check
    sys.exit(main(["run", *args]))
