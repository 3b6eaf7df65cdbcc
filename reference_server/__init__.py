"""A correct ChatKit server (openai-chatkit + openai-agents) with named fault modes.

Entry points: ``python -m reference_server`` / ``chatkit-reference-server`` (see
:mod:`reference_server.cli`), :func:`reference_server.app.create_app` for in-process
use, :func:`reference_server.serving.serve_in_thread` for tests, and
:func:`reference_server.dev_issuer.mint_dev_token` for tokens it accepts.

Nothing heavy is imported here, so ``import reference_server.cli`` stays fast.
"""

from .config import ServerConfig
from .faults import Fault

__all__ = ["Fault", "ServerConfig"]
