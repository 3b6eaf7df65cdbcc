"""Which checks each fault mode of the reference server must fail: the proof table.

``tests/test_fault_matrix.py`` runs the whole suite against the reference server with each
fault and asserts the failing check ids equal exactly the set below; the correct server fails
none. ``docs/checks.md`` shows the same table, so every check names the fault that kills it.
A fault may kill more than the check named after it: that is the real blast radius of the
pitfall (a bare 500 also breaks reading a deleted thread), and the table pins it down.
"""

from __future__ import annotations

EXPECTED_KILLS: dict[str, frozenset[str]] = {
    "no-history": frozenset({"history.recall"}),
    "drop-metadata": frozenset(
        {
            "metadata.user-info",
            "metadata.page-context",
            "metadata.follow-up-turn",
            "metadata.header-context",
        }
    ),
    "buffered-stream": frozenset({"sse.unbuffered", "sse.no-content-length"}),
    "gzip-stream": frozenset({"sse.unbuffered", "sse.no-compression"}),
    "no-cache-headers": frozenset({"sse.cache-control"}),
    "cold-start": frozenset({"latency.cold-start"}),
    "slow-first-token": frozenset({"latency.ttfb", "latency.cold-start"}),
    "fake-item-ids": frozenset(
        {"protocol.unique-item-ids", "protocol.list-items", "history.persisted"}
    ),
    "bare-500": frozenset(
        {
            "errors.malformed-json",
            "errors.unknown-type",
            "errors.missing-params",
            "errors.unknown-thread",
            "errors.oversized-body",
            "errors.connection-survives",
            "protocol.delete-thread",
        }
    ),
    "invented-events": frozenset({"protocol.event-schema"}),
    "cut-stream-on-missing-thread": frozenset({"errors.unknown-thread"}),
    "no-delete": frozenset({"protocol.delete-thread"}),
    "non-json-keepalive": frozenset({"protocol.framing"}),
    "late-thread-created": frozenset({"protocol.create-order"}),
    "lost-deltas": frozenset({"protocol.item-lifecycle"}),
    # One reply finished after every chunk is still one item with one id: only its lifecycle
    # is wrong (the id checks count items, not done events).
    "done-per-chunk": frozenset({"protocol.item-lifecycle"}),
    # Each reply stored twice under one id: the reload shows it twice.
    "double-store": frozenset({"protocol.list-items", "history.persisted"}),
    "spurious-thread-created": frozenset({"protocol.add-user-message"}),
    "get-thread-no-items": frozenset({"protocol.get-thread"}),
    "list-threads-empty": frozenset({"protocol.list-threads"}),
    "no-title-save": frozenset({"protocol.update-title"}),
    "json-as-text": frozenset({"protocol.json-content-type"}),
    "stream-as-json": frozenset({"sse.content-type"}),
    "delete-wrong-thread": frozenset({"errors.nothing-lost"}),
    "cross-thread-history": frozenset({"history.fresh-thread-control"}),
    "context-on-create-only": frozenset({"metadata.follow-up-turn"}),
    "unindexed-list": frozenset({"latency.json-endpoints"}),
    "no-body-limit": frozenset({"errors.oversized-body"}),
    # Passes with --inference-options '{"model": ...}' (tests/test_inference_options.py).
    "history-only-with-model": frozenset({"history.recall"}),
    # The rest of the protocol (scenarios/test_cancel.py ... test_stream_extras.py).
    "no-cancel-option": frozenset({"cancel.stream-options"}),
    "cancel-drops-partial": frozenset({"cancel.partial-kept"}),
    "cancel-locks-thread": frozenset({"cancel.next-turn-works"}),
    "hidden-items-listed": frozenset({"cancel.hidden-not-listed"}),
    "paging-duplicate-boundary": frozenset({"paging.threads", "paging.items"}),
    "paging-ignores-limit": frozenset({"paging.threads", "paging.items"}),
    "bad-cursor-500": frozenset({"paging.bad-cursor"}),
    "retry-keeps-newer": frozenset({"retry.replaces-newer"}),
    "retry-unknown-empty": frozenset({"retry.bad-item"}),
    "feedback-unscoped": frozenset({"feedback.bad-input", "feedback.isolated"}),
    "feedback-insert-only": frozenset({"feedback.accepted"}),
    "attachments-unscoped": frozenset({"attachments.isolated"}),
    "upload-url-unscoped": frozenset({"attachments.upload-isolated"}),
    "no-attachment-limits": frozenset({"attachments.limits"}),
    "attachments-outlive-thread": frozenset({"attachments.thread-delete"}),
    "attachment-delete-silent": frozenset({"attachments.delete-unknown"}),
    "tool-output-cut-stream": frozenset({"client-tools.no-pending"}),
    "tool-output-ignored": frozenset({"client-tools.round-trip"}),
    "structured-input-ignored": frozenset(
        {"structured-input.answered", "structured-input.skipped", "structured-input.not-pending"}
    ),
    "structured-input-resubmit": frozenset({"structured-input.not-pending"}),
    "invalid-widget": frozenset({"widgets.schema"}),
    "action-item-unscoped": frozenset({"actions.other-user"}),
    # User B's action names A's widget, which is missing from B's thread: the same 500.
    "action-missing-item-500": frozenset({"actions.unknown-item", "actions.other-user"}),
    "action-not-saved": frozenset({"actions.custom", "actions.sync"}),
    "transcribe-unchecked": frozenset({"transcribe.bad-input"}),
    "transcribe-wrong-shape": frozenset({"transcribe.accepted"}),
    "malformed-stream-extras": frozenset(
        {"events.progress-schema", "events.client-effect-schema", "events.notice-schema"}
    ),
    "extras-stored": frozenset({"events.not-stored"}),
    "closed-thread-accepts": frozenset({"thread-status.closed"}),
    "unknown-thread-silent": frozenset({"lookups.unknown-thread"}),
    # Only chat: 501 for the rest makes those features not offered (no fail); 500 fails them.
    "chat-only": frozenset(),
    "chat-only-500": frozenset(
        {
            "retry.replaces-newer",
            "retry.bad-item",
            "retry.isolated",
            "feedback.accepted",
            "feedback.bad-input",
            "feedback.isolated",
            "attachments.lifecycle",
            "client-tools.no-pending",
            "actions.unknown-item",
            "transcribe.accepted",
            "transcribe.bad-input",
        }
    ),
    # Auth: a verifier broken at one spot lets exactly that kind of token in.
    "no-auth": frozenset(
        {
            "auth.missing-token",
            "auth.malformed-token",
            "auth.bad-signature",
            "auth.alg-none",
            "auth.alg-confusion",
            "auth.expired",
            "auth.not-yet-valid",
            "auth.wrong-audience",
            "auth.wrong-issuer",
            "auth.unknown-kid",
            "auth.embedded-key",
            "auth.every-request-type",
            "auth.unverified-identity-header",
            "auth.identity-header-spoof",
            "auth.tenant-isolation",
        }
    ),
    "accept-alg-none": frozenset({"auth.alg-none"}),
    "accept-expired": frozenset({"auth.expired"}),
    "ignore-audience": frozenset({"auth.wrong-audience"}),
    "ignore-kid": frozenset({"auth.unknown-kid"}),  # the seed's python-jose call
    "shared-threads": frozenset(
        {
            "auth.tenant-isolation",
            "retry.isolated",
            "feedback.isolated",
            "client-tools.isolated",
            "structured-input.isolated",
            "attachments.isolated",
        }
    ),
    "trust-user-header": frozenset({"auth.identity-header-spoof"}),
    # Real-deployment behaviours: one broken read, a store that writes in the background.
    "get-thread-500-after-rename": frozenset({"protocol.get-thread"}),
    "eventual-writes": frozenset({"protocol.read-your-writes"}),
    "header-name-only": frozenset({"metadata.header-context"}),
}

# Kills that depend on timing, which the matrix accepts either way. Each is a real effect of
# the fault, not noise of the harness: under shared-threads the pager (a user of its own)
# sees every probe's threads, and when the last entry of a page is a thread its owner deletes
# mid-walk, the next page's cursor is one the store no longer knows (a 4xx, as
# paging.bad-cursor wants). Whether that happens depends on how the probes interleave.
MAY_KILL: dict[str, frozenset[str]] = {
    "shared-threads": frozenset({"paging.threads"}),
}

# Glass-box mode (--model-stub): the bundled server runs the real openai-agents Responses path
# against the harness's model stub, so the glass.* checks read the exact prompt. These faults
# are run again in that mode (the others behave as above; slow-first-token lives in the
# offline model, so it has no effect there).
STUB_KILLS: dict[str, frozenset[str]] = {
    "token-in-prompt": frozenset({"glass.no-secret-in-prompt"}),
    "drop-inference-options": frozenset(
        {"inference.model-honoured", "inference.tool-choice-honoured"}
    ),
    "attachment-not-in-prompt": frozenset({"attachments.reaches-model"}),
    "cancel-drops-partial": frozenset({"cancel.partial-kept", "cancel.model-told"}),
    "duplicate-last-message": frozenset({"glass.history-in-prompt"}),
    "history-as-repr": frozenset({"glass.history-in-prompt"}),
    "no-history": frozenset({"glass.history-in-prompt", "history.recall"}),
    "context-on-create-only": frozenset({"glass.context-in-prompt", "metadata.follow-up-turn"}),
    "buffered-stream": frozenset(
        {"glass.stream-pass-through", "sse.no-content-length", "sse.unbuffered"}
    ),
    # The next turn's model input holds each stored reply twice, too.
    "double-store": frozenset(
        {
            "glass.history-in-prompt",
            "glass.unique-message-ids",
            "history.persisted",
            "protocol.list-items",
        }
    ),
    "done-per-chunk": frozenset({"protocol.item-lifecycle"}),
    "fake-item-ids": frozenset(
        {
            "glass.history-in-prompt",
            "glass.unique-message-ids",
            "history.persisted",
            "protocol.list-items",
            "protocol.unique-item-ids",
        }
    ),
}

# MCP mode (--model-stub --mcp-stub): the bundled server gets the MCP stub's tools
# (MCP_SERVER_URL) and the model stub makes the tool calls. The MCP faults only change the MCP
# wiring, so they are run in this mode alone; the correct server passes every mcp.* check.
MCP_KILLS: dict[str, frozenset[str]] = {
    # The seed's pattern: identity arrives, but through the model, and the raw session token
    # goes to the model provider and to the tool server.
    "mcp-token-in-prompt": frozenset(
        {"mcp.identity-via-transport", "mcp.token-audience", "glass.no-secret-in-prompt"}
    ),
    # Nothing identifies the user; the checks built on an identity are blocked, not failed.
    "mcp-no-identity": frozenset({"mcp.identity-reaches-tools"}),
    # Whichever user comes first, the other one's calls act for them.
    "mcp-shared-client": frozenset({"mcp.identity-reaches-tools", "mcp.no-cross-user"}),
    "mcp-token-passthrough": frozenset({"mcp.token-audience"}),
    "mcp-error-500": frozenset({"mcp.tool-error-clean"}),
}

# Checks whose failure is shown outside the reference server's fault modes: the browser
# checks by broken fixture pages (tests/test_browser_matrix.py), the edge/origin and proxy
# checks through real nginx and Next.js proxies (tests/test_proxies.py).
PROVEN_ELSEWHERE: dict[str, str] = {
    "sse.edge-vs-origin": "nginx default proxy_buffering (fixtures/proxies/nginx-buffered.conf)",
    "browser.script-loads": "pages no-script, wrong-cdn-url, csp-blocks-cdn (fixtures/pages)",
    "browser.upgrade-before-use": (
        "pages render-before-defined, floating-button-early (fixtures/pages), Next.js route "
        "/late-script (fixtures/nextjs)"
    ),
    "browser.fetch-auth": "page no-auth-header (fixtures/pages)",
    "browser.fetch-metadata": "pages no-metadata, floating-button-create-only (fixtures/pages)",
    "browser.page-context-accurate": "page wrong-page-context (fixtures/pages)",
    "browser.logged-out": "page no-login-guard (fixtures/pages)",
    "browser.stream-renders": (
        "page buffering-fetch (fixtures/pages), Next.js route /buffered (fixtures/nextjs)"
    ),
    "proxy.sse-pass-through": "Next.js route /buffered (fixtures/nextjs)",
    "proxy.httponly-cookie": "Next.js route /token-in-storage (fixtures/nextjs)",
}

# Faults that cannot run bundled (the bundled server is started trusting the test issuer, and
# these refuse its users outright), proven by their own tests against a server run with --url.
FAULTS_OUTSIDE_THE_MATRIX: dict[str, str] = {
    "own-tokens-only": "tests/test_auth_checks.py: every issuer-signed auth check is blocked "
    "by the test issuer, none passes",
}


def proven_by(check_id: str) -> list[str]:
    faults = sorted(f for f, kills in EXPECTED_KILLS.items() if check_id in kills)
    faults += sorted(
        f"{f} (--model-stub)"
        for f, kills in STUB_KILLS.items()
        if check_id in kills and check_id not in EXPECTED_KILLS.get(f, frozenset())
    )
    faults += sorted(
        f"{f} (--mcp-stub)"
        for f, kills in MCP_KILLS.items()
        if check_id in kills and check_id not in EXPECTED_KILLS.get(f, frozenset())
    )
    if check_id in PROVEN_ELSEWHERE:
        faults.append(PROVEN_ELSEWHERE[check_id])
    return faults


# The areas of the whole-protocol checks (cancellation, paging, attachments, ...). Their faults
# run in a matrix of their own that selects only these areas (tests/test_fault_matrix.py);
# the other faults run with these areas left out.
FEATURE_AREAS = frozenset(
    {
        "cancel",
        "paging",
        "retry",
        "feedback",
        "attachments",
        "client-tools",
        "structured-input",
        "widgets",
        "actions",
        "transcribe",
        "inference",
        "events",
        "thread-status",
        "lookups",
    }
)


def is_feature_check(check_id: str) -> bool:
    return check_id.split(".", 1)[0] in FEATURE_AREAS


def is_feature_fault(fault: str) -> bool:
    """A fault of the whole-protocol features: every check it kills is in FEATURE_AREAS."""
    kills = EXPECTED_KILLS.get(fault, frozenset()) | STUB_KILLS.get(fault, frozenset())
    if fault.startswith("chat-only"):
        return True
    return bool(kills) and all(is_feature_check(c) for c in kills)
