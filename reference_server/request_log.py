"""One stderr line per request: method, path, ChatKit request type, user, status, duration.

A pure ASGI middleware so the duration covers the whole streamed body. The line
never contains a token: only the values the endpoint put in ``request.state``.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("reference_server.requests")


class RequestLogMiddleware:
    """Logs ``POST /chatkit threads.create user=alice status=200 12.3ms`` lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, noting the status and the time to the last byte."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            status = status or 500
            raise
        finally:
            state = scope.get("state") or {}
            log.info(
                "%s %s %s user=%s status=%s %.1fms",
                scope.get("method", "-"),
                scope.get("path", "-"),
                state.get("request_type", "-"),
                state.get("user", "-"),
                status or "-",
                (time.perf_counter() - started) * 1000,
            )
