"""The catalogue is complete and docs/checks.md is generated from it, never stale."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from harness.registry import load_catalogue
from harness.report.catalogue import markdown_text, render_catalogue

DOCS = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
REGENERATE = "chatkit-harness list --format md > docs/checks.md"

CATALOGUE = load_catalogue()


def test_docs_checks_md_is_current() -> None:
    """docs/checks.md equals what the registry renders now."""
    assert DOCS.is_file(), f"docs/checks.md is missing: run `{REGENERATE}`"
    assert DOCS.read_text(encoding="utf-8") == render_catalogue("md"), (
        f"docs/checks.md is stale: run `{REGENERATE}` and commit it"
    )


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_check_has_pitfall_fix_and_ref(check_id: str) -> None:
    """Every check says what goes wrong, how to fix it, and where the rule comes from."""
    spec = CATALOGUE[check_id]
    for field in ("title", "pitfall", "fix", "ref"):
        text = getattr(spec, field).strip()
        assert len(text) >= 8, f"{check_id} has no real {field}: {text!r}"
    assert spec.pitfall != spec.fix, f"{check_id}: the fix repeats the pitfall"


@pytest.mark.parametrize("check_id", sorted(CATALOGUE))
def test_docs_name_each_check(check_id: str) -> None:
    """Each check has its own section in the docs, with its fix."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.is_file() else ""
    assert f"### `{check_id}`" in text
    assert markdown_text(CATALOGUE[check_id].fix) in text
    assert "Proven by: —" not in text.split(f"### `{check_id}`", 1)[1].split("### ", 1)[0]


def test_catalogue_is_not_empty() -> None:
    """The registry found the scenario modules."""
    assert len(CATALOGUE) > 10


def test_checks_of_an_unloaded_module_leave_the_catalogue() -> None:
    """A module that is unloaded takes its checks with it, as pytester's in-process runs do.

    Those runs import inline check files and then drop them from sys.modules; their checks
    used to stay in the registry and show up in docs/checks.md after tests/test_plugin_pytester.py.
    """
    source = (
        "from harness.registry import check\n"
        "@check(id='leak.probe', title='A leaked check', pitfall='pitfall', fix='fix it',"
        " ref='nowhere')\n"
        "def test_probe() -> None:\n"
        "    pass\n"
    )
    for name in ("_leak_first", "_leak_second"):  # the second redeclares the id elsewhere
        module = types.ModuleType(name)
        sys.modules[name] = module
        try:
            exec(source, module.__dict__)
            assert load_catalogue()["leak.probe"].module == name
        finally:
            del sys.modules[name]
        assert "leak.probe" not in load_catalogue()
    assert "leak.probe" not in render_catalogue("md")
