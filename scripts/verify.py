#!/usr/bin/env python3
"""Health check: ``python scripts/verify.py [URL] [chatkit-harness run options]``.

With no URL it starts the bundled reference server and checks that, so it works out of the box.
Prints one line per check (✓ / ✗) and a verdict; exit 0 healthy, 1 a check failed, 2 the
harness could not run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run from a checkout without installing: the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        args = ["--url", args[0], *args[1:]]
    bundled = "--url" not in args and not os.environ.get("CHATKIT_URL")
    stub_chosen = any(a.startswith("--model-stub") for a in args) or any(
        k in os.environ for k in ("CHATKIT_MODEL_STUB", "CHATKIT_MODEL_STUB_URL")
    )
    if bundled and not stub_chosen:
        # Out of the box, the bundled server runs on the harness's model stub, so the
        # glass-box checks (what reached the model) run too; --model-stub false turns it off.
        args.append("--model-stub")
    if "--rich" not in args:
        args.append("--plain")  # the health check's contract: one ✓ / ✗ line per check
    sys.exit(main(["run", *args]))
