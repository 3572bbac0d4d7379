// The JS half of src/wasm/transfer.rs: per-run objects built from one string and a layout
// of UTF-16 offsets (cheaper than JSON.parse for the message list a model gets each call).

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
