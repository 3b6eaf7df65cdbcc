"""Named fault modes: each one breaks the correct server at exactly one spot.

The reference server is correct by default. A fault is a deliberate, documented
pitfall taken from the seed integration guide or from ChatKit issues, switched on
with ``--fault NAME``. The code that implements a fault lives at the place it
breaks (``if Fault.NO_HISTORY in cfg.faults: ...``); this module only names them.
"""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    """A deliberate break of the correct reference server (value = CLI name)."""

    NO_HISTORY = "no-history"
    DROP_METADATA = "drop-metadata"
    NO_AUTH = "no-auth"
    ACCEPT_ALG_NONE = "accept-alg-none"
    ACCEPT_EXPIRED = "accept-expired"
    IGNORE_AUDIENCE = "ignore-audience"
    IGNORE_KID = "ignore-kid"
    SHARED_THREADS = "shared-threads"
    TRUST_USER_HEADER = "trust-user-header"
    OWN_TOKENS_ONLY = "own-tokens-only"
    BUFFERED_STREAM = "buffered-stream"
    GZIP_STREAM = "gzip-stream"
    NO_CACHE_HEADERS = "no-cache-headers"
    COLD_START = "cold-start"
    BARE_500 = "bare-500"
    FAKE_ITEM_IDS = "fake-item-ids"
    INVENTED_EVENTS = "invented-events"
    CUT_STREAM_ON_MISSING_THREAD = "cut-stream-on-missing-thread"
    TOKEN_IN_PROMPT = "token-in-prompt"
    DUPLICATE_LAST_MESSAGE = "duplicate-last-message"
    HISTORY_AS_REPR = "history-as-repr"
    NO_DELETE = "no-delete"
    SLOW_FIRST_TOKEN = "slow-first-token"
    NON_JSON_KEEPALIVE = "non-json-keepalive"
    LATE_THREAD_CREATED = "late-thread-created"
    LOST_DELTAS = "lost-deltas"
    SPURIOUS_THREAD_CREATED = "spurious-thread-created"
    GET_THREAD_NO_ITEMS = "get-thread-no-items"
    LIST_THREADS_EMPTY = "list-threads-empty"
    NO_TITLE_SAVE = "no-title-save"
    JSON_AS_TEXT = "json-as-text"
    STREAM_AS_JSON = "stream-as-json"
    DELETE_WRONG_THREAD = "delete-wrong-thread"
    CROSS_THREAD_HISTORY = "cross-thread-history"
    CONTEXT_ON_CREATE_ONLY = "context-on-create-only"
    UNINDEXED_LIST = "unindexed-list"
    NO_BODY_LIMIT = "no-body-limit"
    HISTORY_ONLY_WITH_MODEL = "history-only-with-model"
    DOUBLE_STORE = "double-store"
    DONE_PER_CHUNK = "done-per-chunk"
    # The rest of the protocol: cancellation, paging, retry, feedback, attachments, client
    # tools, structured input, widgets and actions, transcription, inference options, the
    # tier-2 stream events, thread status, and deployments that offer only chat.
    NO_CANCEL_OPTION = "no-cancel-option"
    CANCEL_DROPS_PARTIAL = "cancel-drops-partial"
    CANCEL_LOCKS_THREAD = "cancel-locks-thread"
    HIDDEN_ITEMS_LISTED = "hidden-items-listed"
    PAGING_DUPLICATE_BOUNDARY = "paging-duplicate-boundary"
    PAGING_IGNORES_LIMIT = "paging-ignores-limit"
    BAD_CURSOR_500 = "bad-cursor-500"
    RETRY_KEEPS_NEWER = "retry-keeps-newer"
    RETRY_UNKNOWN_EMPTY = "retry-unknown-empty"
    FEEDBACK_UNSCOPED = "feedback-unscoped"
    FEEDBACK_INSERT_ONLY = "feedback-insert-only"
    ATTACHMENTS_UNSCOPED = "attachments-unscoped"
    UPLOAD_URL_UNSCOPED = "upload-url-unscoped"
    NO_ATTACHMENT_LIMITS = "no-attachment-limits"
    ATTACHMENTS_OUTLIVE_THREAD = "attachments-outlive-thread"
    ATTACHMENT_NOT_IN_PROMPT = "attachment-not-in-prompt"
    ATTACHMENT_DELETE_SILENT = "attachment-delete-silent"
    TOOL_OUTPUT_CUT_STREAM = "tool-output-cut-stream"
    TOOL_OUTPUT_IGNORED = "tool-output-ignored"
    STRUCTURED_INPUT_IGNORED = "structured-input-ignored"
    STRUCTURED_INPUT_RESUBMIT = "structured-input-resubmit"
    INVALID_WIDGET = "invalid-widget"
    ACTION_ITEM_UNSCOPED = "action-item-unscoped"
    ACTION_MISSING_ITEM_500 = "action-missing-item-500"
    ACTION_NOT_SAVED = "action-not-saved"
    TRANSCRIBE_UNCHECKED = "transcribe-unchecked"
    TRANSCRIBE_WRONG_SHAPE = "transcribe-wrong-shape"
    DROP_INFERENCE_OPTIONS = "drop-inference-options"
    MALFORMED_STREAM_EXTRAS = "malformed-stream-extras"
    EXTRAS_STORED = "extras-stored"
    CLOSED_THREAD_ACCEPTS = "closed-thread-accepts"
    UNKNOWN_THREAD_SILENT = "unknown-thread-silent"
    CHAT_ONLY = "chat-only"
    CHAT_ONLY_500 = "chat-only-500"
    REFUSE_ALL = "refuse-all"
    EVENTUAL_WRITES = "eventual-writes"
    GET_THREAD_500_AFTER_RENAME = "get-thread-500-after-rename"
    HEADER_NAME_ONLY = "header-name-only"
    MCP_TOKEN_IN_PROMPT = "mcp-token-in-prompt"
    MCP_NO_IDENTITY = "mcp-no-identity"
    MCP_SHARED_CLIENT = "mcp-shared-client"
    MCP_TOKEN_PASSTHROUGH = "mcp-token-passthrough"
    MCP_ERROR_500 = "mcp-error-500"
    # Pitfalls that show only under concurrency (chatkit-harness load).
    RACY_STORE = "racy-store"
    POOL_EXHAUSTION = "pool-exhaustion"

    @property
    def description(self) -> str:
        """One line saying what the fault breaks."""
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Fault, str] = {
    Fault.NO_HISTORY: "respond() sends only the new user message to the agent "
    "(chatkit-python #23: the bot forgets the conversation)",
    Fault.DROP_METADATA: "reads context.metadata that nothing fills: user info and page "
    "context (body or headers) never reach the instructions",
    Fault.NO_AUTH: "accepts requests without a token; the user id comes from X-User-ID "
    "or 'anonymous'",
    Fault.ACCEPT_ALG_NONE: "accepts unsigned alg=none tokens (other bad tokens still fail)",
    Fault.ACCEPT_EXPIRED: "does not check the token's exp claim",
    Fault.IGNORE_AUDIENCE: "does not check the token's aud claim",
    Fault.IGNORE_KID: "the seed's python-jose jwt.decode(token, jwks) that tries every key "
    "and ignores the kid",
    Fault.SHARED_THREADS: "the store is not scoped by user: anyone can read, change or "
    "delete anyone's thread",
    Fault.TRUST_USER_HEADER: "the user id is taken from the X-User-ID header when present, "
    "overriding the token's subject",
    Fault.OWN_TOKENS_ONLY: "accepts only HS256 tokens signed with its own secret (mint one with "
    "--fault own-tokens-only --dev-token SUB); it trusts no other issuer, whatever it is told",
    Fault.BUFFERED_STREAM: "the whole SSE body is collected and sent at once at the end",
    Fault.GZIP_STREAM: "the event stream is gzip-compressed (Content-Encoding: gzip) and "
    "arrives in one piece",
    Fault.NO_CACHE_HEADERS: "no Cache-Control / X-Accel-Buffering headers on the stream",
    Fault.COLD_START: "the first /chatkit request waits --cold-start-seconds like an "
    "unwarmed serverless database",
    Fault.BARE_500: "the SDK's default wiring: bad bodies give a bare 500 and a closed "
    "connection, an unknown thread on a stream gives 200 then a broken stream, no body limit",
    Fault.FAKE_ITEM_IDS: "every assistant message gets the item id __fake_id__ "
    "(chatkit-python #36)",
    Fault.INVENTED_EVENTS: "emits extra thread.message.delta events, which are not ChatKit "
    "event types",
    Fault.CUT_STREAM_ON_MISSING_THREAD: "a streaming request for an unknown thread gets 200 "
    "and an empty stream, no error event",
    Fault.TOKEN_IN_PROMPT: "the user's access token is written into the agent instructions",
    Fault.DUPLICATE_LAST_MESSAGE: "the new user message is sent to the model twice "
    "(history plus the input message again)",
    Fault.HISTORY_AS_REPR: "history goes into the instructions as object reprs instead of "
    "input items; the agent input is only the current message",
    Fault.NO_DELETE: "threads.delete answers {} but deletes nothing",
    Fault.SLOW_FIRST_TOKEN: "the offline model waits 3 s before the first token of every "
    "reply; the rest follow at the normal pace",
    Fault.NON_JSON_KEEPALIVE: "streams carry a hand-rolled 'data: ping' keep-alive event (not "
    "JSON) after the first event",
    Fault.LATE_THREAD_CREATED: "threads.create streams the user message before thread.created "
    "(the first two events swapped)",
    Fault.LOST_DELTAS: "every 7th assistant text delta is dropped from the stream (the final "
    "item still has the full text)",
    Fault.SPURIOUS_THREAD_CREATED: "threads.add_user_message streams start with a thread.created "
    "for the existing thread",
    Fault.GET_THREAD_NO_ITEMS: "threads.get_by_id returns the thread metadata with an empty "
    "items page",
    Fault.LIST_THREADS_EMPTY: "threads.list always returns an empty page",
    Fault.NO_TITLE_SAVE: "threads.update answers with the new title but never saves it",
    Fault.JSON_AS_TEXT: "non-streaming JSON responses are labelled Content-Type: text/plain",
    Fault.STREAM_AS_JSON: "event streams are labelled Content-Type: application/json (still "
    "streamed, bytes unchanged)",
    Fault.DELETE_WRONG_THREAD: "threads.delete of an unknown thread answers {} and deletes the "
    "user's most recently created thread ('fall back to the active thread')",
    Fault.CROSS_THREAD_HISTORY: "respond() loads history from all of the user's threads (the "
    "history query ignores the thread id)",
    Fault.CONTEXT_ON_CREATE_ONLY: "user/page context is read on threads.create only; later turns "
    "ignore the request's and the thread's saved context",
    Fault.UNINDEXED_LIST: "threads.list and items.list each take 1.2 s, like a full table scan "
    "without an index",
    Fault.NO_BODY_LIMIT: "no request body size limit: a 2 MiB body is parsed and answered, "
    "never refused with 413",
    Fault.HISTORY_ONLY_WITH_MODEL: "history is loaded only when the user message's "
    "inference_options.model is set (a mode picked in the composer); otherwise only the new "
    "message reaches the agent",
    Fault.DOUBLE_STORE: "respond() saves each assistant message itself after ChatKitServer "
    "already saved it, into a store whose add_thread_item is a plain INSERT without a unique "
    "(thread_id, id): every reply is stored twice under one id",
    Fault.DONE_PER_CHUNK: "the stream converter sends a thread.item.done (with the text so "
    "far) after every text chunk of an assistant message, all under the message's one id",
    Fault.NO_CANCEL_OPTION: "streams announce stream_options.allow_cancel false (no stop button)",
    Fault.CANCEL_DROPS_PARTIAL: "a cancelled stream stores nothing: the partial reply and the "
    "SDK's hidden 'cancelled' item are lost (cleanup cancelled with the request)",
    Fault.CANCEL_LOCKS_THREAD: "a per-thread 'generating' flag is cleared only when a stream "
    "ends normally: after a stop, every later turn on the thread gets 409",
    Fault.HIDDEN_ITEMS_LISTED: "items.list returns hidden context items (the SDK's cancellation "
    "note) to the client",
    Fault.PAGING_IGNORES_LIMIT: "lists are paged with the store's own fixed size (20), whatever "
    "limit the client asks for",
    Fault.PAGING_DUPLICATE_BOUNDARY: "list cursors compare with <= / >=: every page repeats the "
    "last entry of the page before",
    Fault.BAD_CURSOR_500: "an 'after' cursor that is not one of the list's ids raises: HTTP 500",
    Fault.RETRY_KEEPS_NEWER: "threads.retry_after_item streams a new reply but deletes none of "
    "the newer items",
    Fault.RETRY_UNKNOWN_EMPTY: "threads.retry_after_item on an unknown item answers 200 with an "
    "empty stream (the SDK's own behaviour without a check)",
    Fault.FEEDBACK_UNSCOPED: "items.feedback stores any thread and item id without checking "
    "they are the caller's",
    Fault.FEEDBACK_INSERT_ONLY: "feedback is a plain INSERT: changing a vote hits the unique "
    "constraint and answers 500",
    Fault.ATTACHMENTS_UNSCOPED: "attachment rows are looked up by id alone: anyone can use or "
    "delete anyone's attachment",
    Fault.UPLOAD_URL_UNSCOPED: "the upload URL checks the credential but not the owner: anyone "
    "can read or overwrite anyone's upload",
    Fault.NO_ATTACHMENT_LIMITS: "attachments.create accepts any size and any MIME type",
    Fault.ATTACHMENTS_OUTLIVE_THREAD: "threads.delete leaves the thread's attachments behind",
    Fault.ATTACHMENT_NOT_IN_PROMPT: "the converter drops attachments: the model never sees them",
    Fault.ATTACHMENT_DELETE_SILENT: "attachments.delete of an unknown id answers {}",
    Fault.TOOL_OUTPUT_CUT_STREAM: "threads.add_client_tool_output with no pending call answers "
    "200 and a stream that breaks off",
    Fault.TOOL_OUTPUT_IGNORED: "client tool output is acknowledged but never saved: the call stays "
    "pending",
    Fault.STRUCTURED_INPUT_IGNORED: "threads.add_structured_input answers with a reply but never "
    "applies the answers (the item stays pending)",
    Fault.STRUCTURED_INPUT_RESUBMIT: "structured input is accepted again after it was answered",
    Fault.INVALID_WIDGET: "widget items are streamed without their widget root's type",
    Fault.ACTION_ITEM_UNSCOPED: "widget actions look the item up by id alone, in any thread of "
    "any user",
    Fault.ACTION_MISSING_ITEM_500: "a widget action naming a missing item answers 500",
    Fault.ACTION_NOT_SAVED: "widget actions answer with the updated widget but never save it",
    Fault.TRANSCRIBE_UNCHECKED: "input.transcribe decodes and transcribes without checks: bad "
    "base64 or an unsupported type is a 500",
    Fault.TRANSCRIBE_WRONG_SHAPE: 'input.transcribe answers {"transcript": ...} instead of '
    '{"text": ...}',
    Fault.DROP_INFERENCE_OPTIONS: "the composer's model and tool choice are ignored",
    Fault.MALFORMED_STREAM_EXTRAS: "progress_update, client_effect and notice events are streamed "
    "with a wrong field each",
    Fault.EXTRAS_STORED: "a notice is also stored in the thread as an assistant message",
    Fault.CLOSED_THREAD_ACCEPTS: "closed threads take new messages like active ones",
    Fault.UNKNOWN_THREAD_SILENT: "threads.update and threads.delete of an unknown thread "
    "answer {} (an UPDATE/DELETE whose row count nobody reads)",
    Fault.CHAT_ONLY: "only chat: every other request type is answered 501 and no keyword "
    "feature is on",
    Fault.CHAT_ONLY_500: "only chat, and every other request type is answered 500",
    Fault.REFUSE_ALL: "every request gets 401, whatever credential it carries (an identity "
    "provider that no longer knows the harness's user; correct otherwise)",
    Fault.EVENTUAL_WRITES: "assistant items are written by a background task 300 ms after "
    "they were streamed (a write queue): items.list lags behind the stream",
    Fault.GET_THREAD_500_AFTER_RENAME: "threads.get_by_id answers 500 for any thread renamed "
    "with threads.update (a store that keeps the SDK's full thread object)",
    Fault.HEADER_NAME_ONLY: "of the context headers only X-User-Name is read; X-Page-Title, "
    "X-Page-Url and X-Page-Context are dropped",
    Fault.MCP_TOKEN_IN_PROMPT: "--mcp-url: the seed's MCP pattern: no credential on the MCP "
    "connection; the user id and access token are written into the instructions for the model "
    "to copy into every tool call",
    Fault.MCP_NO_IDENTITY: "--mcp-url: the MCP connection carries no credential and the prompt "
    "names no user: tools cannot tell whom they act for",
    Fault.MCP_SHARED_CLIENT: "--mcp-url: one MCP connection, made with the first user's "
    "headers, serves every later user (a module-level MCPServerStreamableHttp)",
    Fault.MCP_TOKEN_PASSTHROUGH: "--mcp-url: the user's ChatKit session token is sent to the "
    "MCP server unchanged instead of being exchanged for one issued for that server",
    Fault.MCP_ERROR_500: "--mcp-url: a failing tool call is raised out of the turn instead of "
    "being reported to the model, and the request ends in a bare 500",
    Fault.RACY_STORE: "every thread's item list lives in one shared index document that "
    "add_thread_item reads, awaits its database write, then writes back without a lock: two "
    "conversations writing at once drop each other's items from items.list",
    Fault.POOL_EXHAUSTION: "a database pool of one connection (pool_size=1, max_overflow=0), "
    "not pre-warmed (it opens in 0.5 s), held by every request for its whole response (a "
    "session-per-request dependency): a burst of streams queues for seconds before its first "
    "event",
}


def parse_fault(name: str) -> Fault:
    """Return the fault called ``name``; raise ValueError naming the valid ones."""
    try:
        return Fault(name)
    except ValueError:
        valid = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {name!r} (valid: {valid})") from None


def list_faults() -> str:
    """The ``--list`` text: one fault per line, name then what it breaks."""
    width = max(len(f.value) for f in Fault)
    return "\n".join(f"{f.value:<{width}}  {f.description}" for f in Fault)
