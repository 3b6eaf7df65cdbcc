/*
 * chatkit-harness stand-in for the <openai-chatkit> web component.
 *
 * The real element only exists as OpenAI's CDN script, which needs the internet and a
 * domain-key check. This stand-in honours the same published contract (@openai/chatkit
 * types: setOptions as a full replace, sendUserMessage, setThreadId, fetchUpdates,
 * focusComposer; chatkit.* CustomEvents) and talks to a custom backend the same way:
 * POST to options.api.url through options.api.fetch (else window.fetch) with a JSON string
 * body {type, params}, reading the answer as SSE. It renders the thread in an open shadow
 * root so the harness can watch the reply appear.
 */
(() => {
  "use strict";
  if (window.customElements.get("openai-chatkit")) return;

  const STYLE = `
    :host { display: block; font: 14px/1.4 system-ui, sans-serif; border: 1px solid #ccc;
            min-height: 240px; }
    .messages { padding: 8px; }
    .message { margin: 4px 0; white-space: pre-wrap; }
    .user { color: #124; }
    .assistant { color: #222; }
    .error { color: #a00; padding: 8px; }
    form { display: flex; gap: 4px; padding: 8px; border-top: 1px solid #eee; }
    textarea { flex: 1; }
  `;

  function userInput(text) {
    return {
      content: [{ type: "input_text", text: String(text ?? "") }],
      attachments: [],
      quoted_text: null,
      inference_options: {},
    };
  }

  function textOf(item) {
    const parts = Array.isArray(item?.content) ? item.content : [];
    return parts.map((c) => (c && typeof c.text === "string" ? c.text : "")).join("");
  }

  class OpenAIChatKit extends HTMLElement {
    constructor() {
      super();
      this._options = null;
      this._threadId = null;
      this._busy = false;
      this._readySent = false;
      this._items = new Map(); // item id -> rendered element
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML =
        `<style>${STYLE}</style>` +
        `<div class="messages" part="messages"></div>` +
        `<div class="error" part="error" role="alert" hidden></div>` +
        `<form part="composer"><textarea rows="1" aria-label="Message"></textarea>` +
        `<button type="submit">Send</button></form>`;
      this._messages = root.querySelector(".messages");
      this._error = root.querySelector(".error");
      this._textarea = root.querySelector("textarea");
      root.querySelector("form").addEventListener("submit", (e) => {
        e.preventDefault();
        const text = this._textarea.value.trim();
        if (!text) return;
        this._textarea.value = "";
        this.sendUserMessage({ text }).catch(() => {});
      });
    }

    // -- public API (ChatKitElement) -------------------------------------------------------

    async setOptions(options) {
      // A full replace, never a merge: keys left out are gone (the real element does this).
      this._options = options ? { ...options } : null;
      const api = this._options?.api;
      if (!api || typeof api.url !== "string" || !api.url) {
        this._fail(new Error("Invalid frame params: api.url is required"));
        return;
      }
      if (!("getClientSecret" in api) && !api.domainKey) {
        this._fail(new Error("InvalidFrameParamsError: Invalid frame params at api (domainKey)"));
        return;
      }
      if (!this._readySent) {
        this._readySent = true;
        queueMicrotask(() => this._emit("chatkit.ready"));
      }
      const initial = this._options.initialThread;
      if (initial && initial !== this._threadId) await this.setThreadId(initial);
    }

    async sendUserMessage(args = {}) {
      const text = args.text ?? "";
      if (args.newThread) this._setThread(null);
      const type = this._threadId ? "threads.add_user_message" : "threads.create";
      const params = this._threadId
        ? { thread_id: this._threadId, input: userInput(text) }
        : { input: userInput(text) };
      await this._stream(type, params);
    }

    async setThreadId(threadId) {
      this._setThread(threadId ?? null);
      this._messages.textContent = "";
      this._items.clear();
      if (threadId) await this._loadThread(threadId);
    }

    async fetchUpdates() {
      if (this._threadId) await this._loadThread(this._threadId);
    }

    async focusComposer() {
      this._textarea.focus();
    }

    async setComposerValue(value = {}) {
      this._textarea.value = value.text ?? "";
    }

    async showHistory() {
      this._emit("chatkit.history.open");
    }

    async hideHistory() {
      this._emit("chatkit.history.close");
    }

    async sendCustomAction(action, itemId) {
      if (!this._threadId) throw new Error("no thread");
      const params = { thread_id: this._threadId, action };
      if (itemId) params.item_id = itemId;
      await this._stream("threads.custom_action", params);
    }

    // -- transport ------------------------------------------------------------------------

    _requireOptions() {
      const api = this._options?.api;
      if (!api || !api.url) {
        const err = new Error("ChatKit has no options: call setOptions() first");
        this._fail(err);
        throw err;
      }
      return api;
    }

    async _post(type, params, accept) {
      const api = this._requireOptions();
      const doFetch = typeof api.fetch === "function" ? api.fetch : window.fetch.bind(window);
      const init = {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: accept },
        body: JSON.stringify({ type, params }),
      };
      let response;
      try {
        response = await doFetch(api.url, init);
      } catch (err) {
        this._fail(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
      if (!response || !response.ok) {
        const status = response ? response.status : "no response";
        const err = new Error(`ChatKit request ${type} failed: HTTP ${status}`);
        this._fail(err);
        throw err;
      }
      return response;
    }

    async _loadThread(threadId) {
      const response = await this._post("threads.get_by_id", { thread_id: threadId }, "application/json");
      const thread = await response.json();
      const items = thread?.items?.data ?? [];
      for (const item of items) this._renderItem(item, true);
    }

    async _stream(type, params) {
      if (this._busy) throw new Error("a response is already streaming");
      this._busy = true;
      this._clearError();
      this._emit("chatkit.response.start");
      try {
        const response = await this._post(type, params, "text/event-stream");
        const ctype = response.headers.get("content-type") || "";
        if (!ctype.includes("text/event-stream")) {
          const err = new Error(`expected text/event-stream, got ${ctype || "no content type"}`);
          this._fail(err);
          throw err;
        }
        await this._readEvents(response);
      } finally {
        this._busy = false;
        this._emit("chatkit.response.end");
      }
    }

    async _readEvents(response) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = frame
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).replace(/^ /, ""))
            .join("\n");
          if (!data) continue;
          let event;
          try {
            event = JSON.parse(data);
          } catch (err) {
            this._emit("chatkit.log", { name: "invalid_event", data: { data } });
            continue;
          }
          this._apply(event);
        }
      }
    }

    // -- rendering ------------------------------------------------------------------------

    _apply(event) {
      switch (event?.type) {
        case "thread.created":
          this._setThread(event.thread?.id ?? null);
          break;
        case "thread.item.added":
        case "thread.item.done":
        case "thread.item.replaced":
          this._renderItem(event.item, event.type !== "thread.item.added");
          break;
        case "thread.item.updated": {
          const update = event.update || {};
          if (update.type === "assistant_message.content_part.text_delta") {
            const el = this._items.get(event.item_id);
            if (el) el.textContent += update.delta ?? "";
          }
          break;
        }
        case "thread.item.removed": {
          this._items.get(event.item_id)?.remove();
          this._items.delete(event.item_id);
          break;
        }
        case "client_effect":
          this._emit("chatkit.effect", { name: event.name, data: event.data });
          break;
        case "error":
          this._fail(new Error(event.message || event.code || "stream error"));
          break;
        default:
          break;
      }
    }

    _renderItem(item, final) {
      if (!item || !item.id) return;
      const role =
        item.type === "user_message" ? "user" : item.type === "assistant_message" ? "assistant" : null;
      if (!role) return;
      let el = this._items.get(item.id);
      if (!el) {
        el = document.createElement("div");
        el.className = `message ${role}`;
        el.dataset.role = role;
        el.dataset.itemId = item.id;
        this._messages.appendChild(el);
        this._items.set(item.id, el);
      }
      const text = textOf(item);
      if (final || text) el.textContent = text;
    }

    _setThread(threadId) {
      if (threadId === this._threadId) return;
      this._threadId = threadId;
      this._emit("chatkit.thread.change", { threadId });
    }

    _fail(error) {
      this._error.hidden = false;
      this._error.textContent = `Error: ${error.message}`;
      this._emit("chatkit.error", { error });
    }

    _clearError() {
      this._error.hidden = true;
      this._error.textContent = "";
    }

    _emit(name, detail) {
      this.dispatchEvent(new CustomEvent(name, { detail: detail ?? null, bubbles: false, composed: true }));
    }
  }

  window.customElements.define("openai-chatkit", OpenAIChatKit);
})();
