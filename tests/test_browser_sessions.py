"""The page's session options (storage state, localStorage, login hook), --frontend-open and
--script auto, without a browser: parsing, merging, errors, and what reaches pytest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness.browser import standin
from harness.browser.login import (
    FrontendUser,
    load_login_hook,
    local_storage,
    read_storage_state,
    state_secrets,
    storage_state,
)
from harness.browser.recorder import RecordOptions, _login
from harness.browser.session import secrets_of
from harness.cli import main
from harness.runner import pytest_args
from harness.target.config import ConfigError, Target, load_target

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_HOOK = ROOT / "fixtures" / "pages" / "login_hook.py"
PAGE = "https://docs.example/lessons/3"


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


# -- settings --------------------------------------------------------------------------------


def test_repeatable_options_from_flags_environment_and_pyproject(tmp_path: Path) -> None:
    flags = {"frontend_open": ["#launcher", "text=Chat"], "frontend_local_storage": ["a=1"]}
    target = load_target(flags, env={}, pyproject=tmp_path / "none.toml")
    assert target.frontend_open == ("#launcher", "text=Chat")
    assert target.frontend_local_storage == ("a=1",)
    # One item per line in an environment variable (a selector may hold ';' or ',').
    env = {"CHATKIT_FRONTEND_OPEN": "#menu, #nav\nbutton[aria-label='Chat; help']"}
    target = load_target({}, env=env, pyproject=tmp_path / "none.toml")
    assert target.frontend_open == ("#menu, #nav", "button[aria-label='Chat; help']")
    toml = tmp_path / "pyproject.toml"
    toml.write_text(
        '[tool.chatkit-harness]\nfrontend-open = ["#launcher"]\n'
        'frontend-local-storage = ["id_token={token}"]\n'
    )
    target = load_target({}, env={}, pyproject=toml)
    assert target.frontend_open == ("#launcher",)
    assert target.frontend_local_storage == ("id_token={token}",)


def test_session_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        Target(frontend_local_storage=("novalue",))
    with pytest.raises(ConfigError, match=r"frontend-storage-state .* is not a file"):
        Target(frontend_storage_state=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match=r"frontend-login .* is not a file"):
        Target(frontend_login=str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match="CSS selector"):
        Target(frontend_open=(" ",))
    assert not Target().frontend_session
    assert Target(frontend_local_storage=("a=b",)).frontend_session
    assert Target(frontend_login=str(EXAMPLE_HOOK)).frontend_session


def test_repeated_flags_reach_pytest_one_flag_per_item() -> None:
    args = pytest_args({"frontend-open": ["#a", "#b"], "frontend-url": "http://h/"})
    i = args.index("--chatkit-frontend-open")
    assert args[i : i + 4] == ["--chatkit-frontend-open", "#a", "--chatkit-frontend-open", "#b"]
    assert "--chatkit-frontend-url" in args


def test_bad_session_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            "--url",
            "http://127.0.0.1:9/chatkit",
            "--frontend-local-storage",
            "novalue",
            "--plain",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "KEY=VALUE" in err[0], err


# -- the session the logged-in context starts with --------------------------------------------


def test_storage_state_merges_the_file_and_the_options(tmp_path: Path) -> None:
    state = write(
        tmp_path / "state.json",
        {
            "cookies": [
                {"name": "auth_token", "value": "old", "domain": "docs.example", "path": "/"},
                {"name": "theme", "value": "dark", "domain": "docs.example", "path": "/"},
            ],
            "origins": [
                {
                    "origin": "https://docs.example",
                    "localStorage": [
                        {"name": "id_token", "value": "stale"},
                        {"name": "lang", "value": "en"},
                    ],
                }
            ],
        },
    )
    target = Target(
        token="tok-abcdef-123456",
        frontend_url=PAGE,
        frontend_storage_state=state,
        frontend_cookie="auth_token={token}",
        frontend_local_storage=("id_token={token}",),
    )
    merged = storage_state(target)
    assert merged is not None
    cookies = {c["name"]: c["value"] for c in merged["cookies"]}
    assert cookies == {"theme": "dark", "auth_token": "tok-abcdef-123456"}
    (origin,) = merged["origins"]
    values = {e["name"]: e["value"] for e in origin["localStorage"]}
    assert values == {"lang": "en", "id_token": "tok-abcdef-123456"}
    # The token is masked everywhere; short values such as the theme are not secrets.
    assert "tok-abcdef-123456" in secrets_of(target)
    assert "dark" not in state_secrets(merged)


def test_local_storage_goes_to_the_page_origin_and_needs_a_token() -> None:
    target = Target(frontend_url=PAGE, frontend_local_storage=("id_token={token}", "k=v=w"))
    with pytest.raises(ConfigError, match="no token"):
        local_storage(target)
    target = Target(
        token="t0k3n-value", frontend_url=PAGE, frontend_local_storage=("id_token={token}",)
    )
    state = storage_state(target)
    assert state == {
        "cookies": [],
        "origins": [
            {
                "origin": "https://docs.example",
                "localStorage": [{"name": "id_token", "value": "t0k3n-value"}],
            }
        ],
    }
    assert local_storage(Target(frontend_local_storage=("k=v=w",))) == [
        {"name": "k", "value": "v=w"}
    ]
    assert storage_state(Target(frontend_url=PAGE)) is None


def test_storage_state_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Expecting value"):
        read_storage_state(write(tmp_path / "bad.json", "not json"))
    with pytest.raises(ConfigError, match="not a Playwright storage state"):
        read_storage_state(write(tmp_path / "list.json", [1, 2]))
    with pytest.raises(ConfigError, match="not a Playwright storage state"):
        read_storage_state(write(tmp_path / "shape.json", {"cookies": {}}))


# -- the login hook --------------------------------------------------------------------------


def test_login_hook_must_define_async_login(tmp_path: Path) -> None:
    assert callable(load_login_hook(str(EXAMPLE_HOOK)))
    sync = tmp_path / "sync.py"
    sync.write_text("def login(page, user):\n    pass\n")
    with pytest.raises(ConfigError, match="async def login"):
        load_login_hook(str(sync))
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    with pytest.raises(ConfigError, match="failed to import: ModuleNotFoundError"):
        load_login_hook(str(broken))


def test_a_failing_login_hook_is_a_harness_error() -> None:
    async def login(page: Any, user: FrontendUser) -> None:
        raise RuntimeError("the site refused the sign-in of alice@example.com")

    user = FrontendUser("a", PAGE)
    opts = RecordOptions(PAGE, "standin", 5.0, login=login, user=user)
    with pytest.raises(ConfigError, match="raised RuntimeError: the site refused"):
        asyncio.run(_login(object(), opts))  # type: ignore[arg-type]


def test_hook_secrets_are_masked() -> None:
    user = FrontendUser("a", PAGE)
    assert user.redact("correct horse battery") == "correct horse battery"
    assert "correct horse battery" in secrets_of(Target(), user.secrets)


# -- --script auto ---------------------------------------------------------------------------


def test_auto_asks_the_cdn_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """--script auto sends one HEAD request to OpenAI's CDN (here a fake: tests never go out)."""
    import httpx

    calls: list[str] = []

    def head(url: str, **kw: Any) -> httpx.Response:
        calls.append(url)
        return httpx.Response(200, request=httpx.Request("HEAD", url))

    monkeypatch.setattr(httpx, "head", head)
    standin.cdn_reachable.cache_clear()
    try:
        assert standin.resolve_mode("auto") == "cdn"
        assert standin.resolve_mode("auto") == "cdn"
    finally:
        standin.cdn_reachable.cache_clear()
    assert calls == [standin.CDN_URL]
