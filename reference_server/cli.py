"""``chatkit-reference-server`` / ``python -m reference_server``.

Importing this module is cheap: chatkit (about 2 s of imports) loads only when the
server actually starts, so ``--list`` and ``--dev-token`` answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .config import DEV_AUDIENCE, DEV_ISSUER, MODEL_KINDS, ServerConfig, default_db_path
from .faults import Fault, list_faults, parse_fault

PROG = "chatkit-reference-server"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line and exit 2: no usage block, never a traceback.
        self.exit(2, f"{PROG}: error: {message}\n")


def _fault(name: str) -> Fault:
    try:
        return parse_fault(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"seconds must be >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (env vars supply defaults where noted)."""
    env = os.environ.get
    p = _Parser(
        prog=PROG,
        description="A correct ChatKit server (offline model by default) with named fault modes.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--port", type=_port, default=8000, help="port (0 picks a free one)")
    db = p.add_mutually_exclusive_group()
    db.add_argument("--db", metavar="PATH", help="SQLite file, or :memory: (default: cache dir)")
    db.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL; postgresql:// works (env DATABASE_URL)",
    )
    p.add_argument(
        "--table-prefix",
        default=env("CHATKIT_TABLE_PREFIX", "chatkit_"),
        help="prefix of the table names (env CHATKIT_TABLE_PREFIX)",
    )
    p.add_argument("--model", choices=MODEL_KINDS, default="offline")
    p.add_argument("--openai-model", default="gpt-4.1-mini", help="model name for OpenAI modes")
    p.add_argument("--token-delay", type=_seconds, default=0.01, metavar="S")
    p.add_argument(
        "--pace-control",
        action="store_true",
        help="accept POST /_reference/pace {token_delay} to change the offline model's pace",
    )
    p.add_argument(
        "--fault", type=_fault, action="append", default=[], metavar="NAME", help="see --list"
    )
    p.add_argument("--list", action="store_true", help="list the fault modes and exit")
    p.add_argument(
        "--dev-token",
        metavar="SUB",
        help="print a dev-issuer token for SUB and exit (under --fault own-tokens-only: the "
        "HS256 token that fault accepts)",
    )
    p.add_argument(
        "--dev-key", metavar="PATH", default=env("CHATKIT_DEV_KEY"), help="env CHATKIT_DEV_KEY"
    )
    p.add_argument("--jwks-url", default=env("JWKS_URL"), help="trust this issuer (env JWKS_URL)")
    p.add_argument("--issuer", default=env("CHATKIT_ISSUER"), help="env CHATKIT_ISSUER")
    p.add_argument("--audience", default=env("CHATKIT_AUDIENCE"), help="env CHATKIT_AUDIENCE")
    p.add_argument(
        "--mcp-url",
        default=env("MCP_SERVER_URL") or None,
        metavar="URL",
        help="give the agent this MCP server's tools, per user (env MCP_SERVER_URL)",
    )
    p.add_argument("--cold-start-seconds", type=_seconds, default=4.0, metavar="S")
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow this browser origin cross-origin (repeatable; '*' for any)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig for parsed arguments (explicit flags win over DATABASE_URL)."""
    database_url = args.database_url
    if database_url is None and args.db is None:
        database_url = os.environ.get("DATABASE_URL") or None
    kwargs: dict[str, object] = {}
    if args.dev_key:
        kwargs["dev_key_path"] = Path(args.dev_key).expanduser()
    return ServerConfig(
        host=args.host,
        port=args.port,
        db_path=args.db or default_db_path(),
        database_url=database_url,
        table_prefix=args.table_prefix,
        model=args.model,
        openai_model=args.openai_model,
        token_delay=args.token_delay,
        pace_control=args.pace_control,
        faults=frozenset(args.fault),
        jwks_url=args.jwks_url or None,
        issuer=args.issuer or None,
        audience=args.audience or None,
        cold_start_seconds=args.cold_start_seconds,
        cors_origins=tuple(args.cors_origin),
        mcp_url=args.mcp_url or None,
        **kwargs,  # type: ignore[arg-type]
    )


def _check(cfg: ServerConfig) -> str | None:
    """A one-line complaint about an unusable option combination, or None."""
    url = cfg.database_url
    if url is not None and not url.startswith(("postgresql", "postgres://", "sqlite")):
        return (
            f"unsupported database URL scheme in {url.split('://', 1)[0]!r} (postgresql or sqlite)"
        )
    if cfg.jwks_url is not None and not cfg.jwks_url.startswith(("http://", "https://")):
        return f"--jwks-url must be an http(s) URL, got {cfg.jwks_url!r}"
    if cfg.mcp_url is not None and not cfg.mcp_url.startswith(("http://", "https://")):
        return f"--mcp-url must be an http(s) URL, got {cfg.mcp_url!r}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", cfg.table_prefix):
        return f"--table-prefix must be a short SQL identifier, got {cfg.table_prefix!r}"
    return None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # The SDK logs every request type at INFO; our request line already says it.
    logging.getLogger("chatkit").setLevel(logging.WARNING)
    logging.getLogger("openai.agents").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the mcp client's HTTP stack


def _import_app() -> None:
    """Import what serving needs: agents, openai, mcp, chatkit and FastAPI, most of start-up.

    The cyclic collector is off meanwhile. These imports make some 340 000 objects that live
    as long as the process, and every collection while they load walks them all again: a
    fifth of the imports' time. gc.freeze() then keeps them out of every later collection
    (a full one takes 0 ms instead of about 100), and the collector is back on before the
    first request.
    """
    gc.disable()
    try:
        from . import app, serving  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()


def serve(cfg: ServerConfig) -> int:
    """Run the server until SIGINT/SIGTERM; print the listening line once ready."""
    from .serving import bind_socket, endpoint_url

    try:
        sock = bind_socket(cfg.host, cfg.port)
    except OSError as exc:
        print(
            f"{PROG}: error: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    _configure_logging()
    _import_app()
    from .app import Resources, create_app, database_url
    from .model_factory import ModelConfigError
    from .serving import ReadyServer, uvicorn_config

    try:
        app = create_app(cfg)
    except (ModelConfigError, ValueError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    resources: Resources = app.state.resources
    url = endpoint_url(cfg.host, sock)

    def announce() -> None:
        print(f"{PROG} listening on {url}", flush=True)

    server = ReadyServer(uvicorn_config(app), announce)

    async def run() -> int:
        try:
            await resources.start()
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(
                f"{PROG}: error: cannot open database {_redacted(database_url(cfg))}: {reason}",
                file=sys.stderr,
            )
            return 1
        await server.serve(sockets=[sock])
        return 0 if server.started else 1

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    finally:
        sock.close()


# A harness that starts this server imports it first and hands it the arguments later (see
# harness.target.launch.prewarm_reference_server); not an option anyone types.
AWAIT_ARGS = "--await-args"


def await_args() -> int:
    """Import what serving needs, then run with the JSON line ``{"argv", "env"}`` on stdin.

    Nothing imported here reads the environment at import time, so the variables handed
    over (the model stub's OPENAI_BASE_URL, the MCP stub's URL) apply as if given at start.
    """
    _import_app()
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the harness went away without using this process
    try:
        handed = json.loads(line)
        argv = [str(a) for a in handed["argv"]]
        env = {str(k): str(v) for k, v in handed.get("env", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        print(f"{PROG}: error: {AWAIT_ARGS} expects one JSON line {{argv, env}}", file=sys.stderr)
        return 2
    os.environ.update(env)
    return main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chatkit-reference-server``."""
    if list(sys.argv[1:] if argv is None else argv) == [AWAIT_ARGS]:
        return await_args()
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_faults())
        return 0
    cfg = config_from_args(args)
    if args.dev_token is not None:
        from .dev_issuer import mint_dev_token

        if not args.dev_token:
            build_parser().error("--dev-token needs a non-empty subject")
        if Fault.OWN_TOKENS_ONLY in cfg.faults:
            from .auth import mint_own_token

            print(mint_own_token(cfg, args.dev_token))  # the HS256 token this fault accepts
            return 0
        print(
            mint_dev_token(
                args.dev_token,
                key_path=cfg.dev_key_path,
                issuer=cfg.issuer or DEV_ISSUER,
                audience=cfg.audience or DEV_AUDIENCE,
            )
        )
        return 0
    problem = _check(cfg)
    if problem:
        build_parser().error(problem)
    return serve(cfg)
