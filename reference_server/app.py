"""create_app(): the FastAPI application for one ServerConfig."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from .attachments import CONTENT_PATH, UPLOAD_PATH, UploadEndpoint
from .auth import TokenVerifier
from .chat_server import ReferenceChatServer
from .config import ServerConfig
from .db import normalize_database_url, sqlite_url
from .dev_issuer import DevKey, load_dev_key
from .endpoint import ChatKitEndpoint
from .keysets import KeySet, RemoteKeySet, StaticKeySet
from .model_factory import build_model, warm_model
from .pace import PACE_PATH, set_pace
from .request_log import RequestLogMiddleware
from .store import SqlStore


def database_url(cfg: ServerConfig) -> str:
    """The SQLAlchemy URL the store uses: DATABASE_URL style if given, else SQLite."""
    if cfg.database_url:
        return normalize_database_url(cfg.database_url)
    return sqlite_url(cfg.db_path)


class Resources:
    """Everything create_app builds; start() is idempotent so the CLI can run it early."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.keys: KeySet = (
            RemoteKeySet(cfg.jwks_url) if cfg.jwks_url else StaticKeySet(self.dev_key.jwks())
        )
        self.store = SqlStore(database_url(cfg), table_prefix=cfg.table_prefix, faults=cfg.faults)
        self.server = ReferenceChatServer(self.store, cfg, build_model(cfg))
        verifier = TokenVerifier(cfg, self.keys)
        self.endpoint = ChatKitEndpoint(cfg, self.store, self.server, verifier)
        self.uploads = UploadEndpoint(cfg, self.store, verifier)
        self._started = False

    @functools.cached_property
    def dev_key(self) -> DevKey:
        """Read (or first created) when used: a server that trusts a --jwks-url serves only its
        own /.well-known/jwks.json from it, and creating the key is an RSA key generation."""
        return load_dev_key(self.cfg.dev_key_path)

    async def start(self) -> None:
        """Create tables and (unless the cold-start fault is on) warm the pool and the clients."""
        if self._started:
            return
        from .faults import Fault

        warm = not self.cfg.has(Fault.COLD_START)
        await self.store.start(warm=warm)
        if warm:
            warm_model(self.server.model)
        if self.server.mcp is not None and warm:
            await self.server.mcp.warm()
        self._started = True

    async def stop(self) -> None:
        """Close the database pool."""
        if self._started:
            await self.store.close()
            self._started = False


def create_app(cfg: ServerConfig) -> FastAPI:
    """The reference ChatKit server as an ASGI app (start-up creates and warms the DB)."""
    resources = Resources(cfg)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await resources.start()
        try:
            yield
        finally:
            await resources.stop()

    app = FastAPI(
        title="chatkit-harness reference server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.resources = resources
    if cfg.cors_origins:
        # A page on another origin (a dev frontend) calls /chatkit with custom headers
        # (Authorization, X-User-ID, chatkit-frame-instance-id...), so preflights must pass.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cfg.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=600,
        )
    app.add_middleware(RequestLogMiddleware)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "faults": sorted(f.value for f in cfg.faults), "model": cfg.model}

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return resources.dev_key.jwks()

    if cfg.pace_control:

        @app.post(PACE_PATH)
        async def pace(request: Request) -> Response:
            return await set_pace(request, resources.server.model)

    @app.post("/chatkit")
    async def chatkit(request: Request) -> Response:
        return await resources.endpoint.handle(request)

    # Two-phase attachment upload: the URL attachments.create hands out, and the bytes back.
    app.add_api_route(UPLOAD_PATH, resources.uploads.upload, methods=["PUT", "POST"])
    app.add_api_route(CONTENT_PATH, resources.uploads.content, methods=["GET"])

    return app
