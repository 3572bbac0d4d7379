// Host services the wasm side needs and cannot express in Rust alone. No `eval` or
// `new Function` anywhere: Cloudflare Workers forbid them.

/** A cancellable timer: dropping a time-out must not keep a Node process alive. */
export function timer(ms) {
  let id;
  const promise = new Promise((resolve) => {
    id = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(id) };
}

/** The global fetch, bound so that browsers do not throw "Illegal invocation". */
export function globalFetch() {
  return typeof fetch === "function" ? fetch.bind(globalThis) : undefined;
}

/** An AbortController that also aborts when `signal` (the caller's, optional) does. */
export function linkedController(signal) {
  const controller = new AbortController();
  if (signal) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}

/** The body reader of a fetch Response, or null when it has no body. */
export function bodyReader(response) {
  return response.body ? response.body.getReader() : null;
}

/** Releases an abandoned body's connection; a failure to cancel is of no interest. */
export function cancelReader(reader) {
  try {
    reader.cancel().catch(() => {});
  } catch {
    // already released
  }
}

/** Calls a host sink; a thrown or rejected sink reports to `onError` instead of becoming an
 *  unhandled rejection that would take a Node process down. */
export function callSink(sink, value, onError) {
  try {
    const r = sink(value);
    if (r && typeof r.then === "function") r.then(undefined, (e) => onError(String(e?.message ?? e)));
  } catch (e) {
    onError(String(e?.message ?? e));
  }
}

// ---- per-run callbacks (src/wasm/callbacks.rs) ----

/** Calls `settled(index, ticket, true, value)` or `(…, false, reason)` once `value`
 *  settles (a plain value settles at the next microtask, like `await`). */
export function whenSettled(value, index, ticket, settled) {
  Promise.resolve(value).then(
    (v) => settled(index, ticket, true, v),
    (e) => settled(index, ticket, false, e),
  );
}

/** A function for the host to call with text; each call reaches `dispatch(index, ticket, text)`. */
export function textSink(index, ticket, dispatch) {
  return (text) => dispatch(index, ticket, text);
}

// Settle functions of the promises `pendingPromise` handed out, by slot index.
const settlers = [];

/** A promise that `settlePromise(index, …)` settles later. */
export function pendingPromise(index) {
  return new Promise((resolve, reject) => {
    settlers[index] = { resolve, reject };
  });
}

export function settlePromise(index, ok, value) {
  const s = settlers[index];
  settlers[index] = undefined;
  if (ok) s.resolve(value);
  else s.reject(value);
}

// ---- per-run values (src/wasm/transfer.rs) ----

const ROLES = ["system", "user", "assistant", "tool"];
const NONE = 0xffffffff;
const STRUCTURED = 4;

function slice(text, layout, i) {
  return layout[i] === NONE ? null : text.slice(layout[i], layout[i + 1]);
}

/** The model request: `{ messages, tools, maxOutputTokens, userId, sessionId, runId }`,
 *  plus `abortSignal` / `onTextDelta` when the run has them. */
export function modelRequest(text, layout, signal, onTextDelta) {
  const n = layout[0];
  const messages = new Array(n);
  for (let i = 0, j = 10; i < n; i++, j += 3) {
    const kind = layout[j];
    const body = text.slice(layout[j + 1], layout[j + 2]);
    messages[i] = kind === STRUCTURED ? JSON.parse(body) : { role: ROLES[kind], content: body };
  }
  const request = {
    messages,
    tools: layout[1] === layout[2] ? [] : JSON.parse(slice(text, layout, 1)),
    maxOutputTokens: layout[3],
    userId: slice(text, layout, 4),
    sessionId: slice(text, layout, 6),
    runId: slice(text, layout, 8),
  };
  if (signal !== undefined) request.abortSignal = signal;
  if (onTextDelta !== undefined) request.onTextDelta = onTextDelta;
  return request;
}

/** The run result, in the documented shape (the same keys and order as before). */
export function runResult(text, layout, n) {
  return {
    text: slice(text, layout, 0),
    usage: { inputTokens: n[0], outputTokens: n[1], totalTokens: n[2], estimated: n[3] === 1, costUsd: n[4] },
    steps: n[5],
    runId: slice(text, layout, 2),
    finishReason: slice(text, layout, 4),
    userId: slice(text, layout, 6),
    sessionId: slice(text, layout, 8),
  };
}

// Finish reasons a host model may return, by index (src/wasm/transfer.rs has the same list).
const FINISH = ["stop", "length", "content-filter", "tool-calls", "error", "other", "end_turn", "stop_sequence", "max_tokens", "content_filter", "refusal", "tool_calls", "tool_use"];

/** The common model answer `{ text, usage?: { inputTokens?, outputTokens? }, finishReason? }`
 *  read without JSON: returns the text and fills `out` with [inputTokens, outputTokens,
 *  finishReason index] (NaN / -1 when absent). Anything else (tool calls, other types, an
 *  unknown finish reason) returns undefined, and the caller reads it through JSON. */
export function readResponse(v, out) {
  if (v === null || typeof v !== "object" || (v.toolCalls !== undefined && v.toolCalls !== null)) return undefined;
  const text = v.text;
  if (typeof text !== "string") return undefined;
  out[0] = NaN;
  out[1] = NaN;
  out[2] = -1;
  const u = v.usage;
  if (u !== undefined && u !== null) {
    if (typeof u !== "object" || Array.isArray(u)) return undefined;
    const i = u.inputTokens, o = u.outputTokens;
    if (i !== undefined && i !== null) {
      if (typeof i !== "number") return undefined;
      out[0] = i;
    }
    if (o !== undefined && o !== null) {
      if (typeof o !== "number") return undefined;
      out[1] = o;
    }
  }
  const f = v.finishReason;
  if (f !== undefined && f !== null) {
    const k = FINISH.indexOf(f);
    if (k < 0) return undefined;
    out[2] = k;
  }
  return text;
}
