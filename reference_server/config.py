"""ServerConfig: every knob of the reference server in one dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .faults import Fault

ModelKind = Literal["offline", "openai", "openai-chat"]
MODEL_KINDS: tuple[ModelKind, ...] = ("offline", "openai", "openai-chat")

DEV_ISSUER = "chatkit-harness-dev-issuer"
DEV_AUDIENCE = "chatkit-reference-server"
MAX_BODY_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 512 * 1024


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/chatkit-harness`` (or ``~/.cache/chatkit-harness``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chatkit-harness"


def default_dev_key_path() -> Path:
    """Where the development issuer keeps its RSA key, shared by every process."""
    return cache_dir() / "dev-issuer-key.pem"


def default_db_path() -> str:
    """Default SQLite file: in the cache dir, so running the server litters no cwd."""
    return str(cache_dir() / "reference-server.sqlite3")


@dataclass(frozen=True)
class ServerConfig:
    """Configuration of one reference server instance (CLI flags map 1:1 onto it)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # SQLite file path (":memory:" allowed); ignored when database_url is set.
    db_path: str = field(default_factory=default_db_path)
    # Any SQLAlchemy URL; "postgresql://" is rewritten to "postgresql+asyncpg://".
    database_url: str | None = None
    # Prefix of every table name, so several runs can share one PostgreSQL database.
    table_prefix: str = "chatkit_"
    model: ModelKind = "offline"
    openai_model: str = "gpt-4.1-mini"
    token_delay: float = 0.01
    pace_control: bool = False  # POST /_reference/pace (reference_server.pace)
    faults: frozenset[Fault] = frozenset()
    dev_key_path: Path = field(default_factory=default_dev_key_path)
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    # Browser origins allowed to call /chatkit cross-origin ("*" for any); none by default.
    cors_origins: tuple[str, ...] = ()
    cold_start_seconds: float = 4.0
    slow_first_token_seconds: float = 3.0
    # unindexed-list fault: how long each threads.list / items.list takes.
    unindexed_list_seconds: float = 1.2
    max_body_bytes: int = MAX_BODY_BYTES
    # attachments.create refuses larger files (413) before anything is uploaded.
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES
    # How many thread items respond() hands to the model (newest first, then reversed).
    history_limit: int = 50
    # Agent turns that stream at once; more wait (after their first events) for a slot.
    max_generations: int = 32
    # The MCP server whose tools the agent gets (Streamable HTTP), acting for each user.
    mcp_url: str | None = None

    @property
    def expected_issuer(self) -> str | None:
        """The iss to require: the configured one, else the dev issuer's when trusting it."""
        if self.issuer is not None:
            return self.issuer
        return DEV_ISSUER if self.jwks_url is None else None

    @property
    def expected_audience(self) -> str | None:
        """The aud to require: the configured one, else the dev audience when trusting it."""
        if self.audience is not None:
            return self.audience
        return DEV_AUDIENCE if self.jwks_url is None else None

    def has(self, fault: Fault) -> bool:
        """True when ``fault`` is switched on."""
        return fault in self.faults
