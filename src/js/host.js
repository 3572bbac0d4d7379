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
    try {
      if (signal.aborted) controller.abort(signal.reason);
      else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
    } catch (e) {
      // A signal that cannot be read is taken as aborted rather than ignored.
      controller.abort(e);
    }
  }
  return controller;
}

/** One `read()` result of a body reader as bytes: a copy of the chunk, `null` at the end.
 *  Anything else (a Proxy, a number, a cycle) is refused, never passed into wasm. */
export function chunkBytes(result) {
  let done;
  let value;
  try {
    done = result.done;
    value = result.value;
  } catch (e) {
    throw refusal("body", `reading a chunk threw: ${describeThrown(e)}`);
  }
  if (done === true) return null;
  let ok = false;
  try {
    ok = value instanceof Uint8Array;
  } catch {
    // a Proxy posing as bytes
  }
  if (!ok) throw refusal("body", "a chunk that is not a Uint8Array");
  return value.slice();
}

/** A headers object's own string entries, or a refusal naming what was wrong. */
export function headerEntries(h) {
  if (h === null || typeof h !== "object" || isArray(h)) throw refusal("headers", "must be an object of strings");
  const out = [];
  try {
    for (const k of Object.keys(h)) {
      const v = h[k];
      if (typeof v !== "string" || !wellFormed(v) || !wellFormed(k)) throw refusal("headers", "every header value must be a string");
      out.push(k, v);
    }
  } catch (e) {
    if (e !== null && typeof e === "object" && "tenantryPath" in e) throw e;
    throw refusal("headers", `reading it threw: ${describeThrown(e)}`);
  }
  return out;
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
    if (r && typeof r.then === "function") r.then(undefined, (e) => onError(describeThrown(e)));
  } catch (e) {
    onError(describeThrown(e));
  }
}

// ---- per-run callbacks (src/wasm/callbacks.rs) ----

/** Calls `settled(index, ticket, true, value)` or `(…, false, reason)` once `value`
 *  settles (a plain value settles at the next microtask, like `await`). */
export function whenSettled(value, index, ticket, settled) {
  const ok = (v) => settled(index, ticket, true, v);
  const failed = (e) => settled(index, ticket, false, e);
  try {
    Promise.prototype.then.call(Promise.resolve(value), ok, failed);
  } catch (e) {
    // A promise whose `constructor` or `then` getter throws: settled later, never inside
    // this call (wasm is on the stack).
    Promise.reject(e).then(undefined, failed);
  }
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

// ---- boundary schema: copies of src/boundary.rs, which `cargo test` checks them against ----
const BOUNDARY_VERSION = 3;
const NONE = 0xffffffff;
const KIND_STRUCTURED = 4;
// Message kinds below KIND_STRUCTURED: the role at that index (`Role::BY_INDEX`).
const ROLES = ["user", "assistant", "system", "tool"];
// Finish reasons a host model may return, by index (`FinishReason::NAMES`).
const FINISH = ["stop", "length", "content-filter", "tool-calls", "error", "other", "end_turn", "stop_sequence", "max_tokens", "content_filter", "refusal", "tool_calls", "tool_use"];
const REQUEST_MESSAGE_COUNT = 0;
const REQUEST_TOOLS = 1;
const REQUEST_MAX_OUTPUT_TOKENS = 3;
const REQUEST_USER_ID = 4;
const REQUEST_SESSION_ID = 6;
const REQUEST_RUN_ID = 8;
const REQUEST_OUTPUT = 10;
const REQUEST_ORG_ID = 12;
const REQUEST_MESSAGES = 14;
const REQUEST_MESSAGE_STRIDE = 3;
const RESULT_TEXT = 0;
const RESULT_RUN_ID = 2;
const RESULT_FINISH_REASON = 4;
const RESULT_USER_ID = 6;
const RESULT_SESSION_ID = 8;
const RESULT_OBJECT = 10;
const RESULT_ORG_ID = 12;
const RESULT_NUM_INPUT_TOKENS = 0;
const RESULT_NUM_OUTPUT_TOKENS = 1;
const RESULT_NUM_TOTAL_TOKENS = 2;
const RESULT_NUM_ESTIMATED = 3;
const RESULT_NUM_COST_USD = 4;
const RESULT_NUM_STEPS = 5;
const RESULT_NUM_OVERRUN = 6;
const RESPONSE_INPUT_TOKENS = 0;
const RESPONSE_OUTPUT_TOKENS = 1;
const RESPONSE_FINISH = 2;
// ---- end of boundary schema ----

function slice(text, layout, i) {
  return layout[i] === NONE ? null : text.slice(layout[i], layout[i + 1]);
}

/** The model request: `{ messages, tools, maxOutputTokens, userId, sessionId, runId }`,
 *  `orgId` for a user of an org other than the default,
 *  plus `abortSignal` / `onTextDelta` when the run has them. */
export function modelRequest(text, layout, signal, onTextDelta) {
  const n = layout[REQUEST_MESSAGE_COUNT];
  const messages = new Array(n);
  for (let i = 0, j = REQUEST_MESSAGES; i < n; i++, j += REQUEST_MESSAGE_STRIDE) {
    const kind = layout[j];
    const body = text.slice(layout[j + 1], layout[j + 2]);
    messages[i] = kind === KIND_STRUCTURED ? JSON.parse(body) : { role: ROLES[kind], content: body };
  }
  const request = {
    messages,
    tools: layout[REQUEST_TOOLS] === layout[REQUEST_TOOLS + 1] ? [] : JSON.parse(slice(text, layout, REQUEST_TOOLS)),
    maxOutputTokens: layout[REQUEST_MAX_OUTPUT_TOKENS],
    userId: slice(text, layout, REQUEST_USER_ID),
    sessionId: slice(text, layout, REQUEST_SESSION_ID),
    runId: slice(text, layout, REQUEST_RUN_ID),
  };
  if (layout[REQUEST_ORG_ID] !== NONE) request.orgId = slice(text, layout, REQUEST_ORG_ID);
  if (layout[REQUEST_OUTPUT] !== NONE) request.output = JSON.parse(slice(text, layout, REQUEST_OUTPUT));
  if (signal !== undefined) request.abortSignal = signal;
  if (onTextDelta !== undefined) request.onTextDelta = onTextDelta;
  return request;
}

/** The run result, in the documented shape (the same keys and order as before). */
export function runResult(text, layout, n) {
  const result = {
    text: slice(text, layout, RESULT_TEXT),
    usage: {
      inputTokens: n[RESULT_NUM_INPUT_TOKENS],
      outputTokens: n[RESULT_NUM_OUTPUT_TOKENS],
      totalTokens: n[RESULT_NUM_TOTAL_TOKENS],
      estimated: n[RESULT_NUM_ESTIMATED] === 1,
      costUsd: n[RESULT_NUM_COST_USD],
      overrun: n[RESULT_NUM_OVERRUN] === 1,
    },
    steps: n[RESULT_NUM_STEPS],
    runId: slice(text, layout, RESULT_RUN_ID),
    finishReason: slice(text, layout, RESULT_FINISH_REASON),
    userId: slice(text, layout, RESULT_USER_ID),
    sessionId: slice(text, layout, RESULT_SESSION_ID),
  };
  if (layout[RESULT_ORG_ID] !== NONE) result.orgId = slice(text, layout, RESULT_ORG_ID);
  if (layout[RESULT_OBJECT] !== NONE) result.object = JSON.parse(slice(text, layout, RESULT_OBJECT));
  return result;
}

/** The common model answer `{ text, usage?: { inputTokens?, outputTokens? }, finishReason? }`
 *  read without JSON: returns the text and fills `out` with inputTokens, outputTokens and
 *  the finishReason's index in FINISH (NaN / -1 when absent). Anything else (tool calls,
 *  other types, an unknown finish reason) returns undefined, and the caller reads it
 *  through JSON. */
export function readResponse(v, out) {
  try {
    return readCommon(v, out);
  } catch {
    // A getter or trap threw: the caller's JSON path reads it again and names the field.
    return undefined;
  }
}

function readCommon(v, out) {
  if (v === null || typeof v !== "object" || (v.toolCalls !== undefined && v.toolCalls !== null)) return undefined;
  const text = v.text;
  if (typeof text !== "string") return undefined;
  out[RESPONSE_INPUT_TOKENS] = NaN;
  out[RESPONSE_OUTPUT_TOKENS] = NaN;
  out[RESPONSE_FINISH] = -1;
  const u = v.usage;
  if (u !== undefined && u !== null) {
    if (typeof u !== "object" || Array.isArray(u)) return undefined;
    const i = u.inputTokens, o = u.outputTokens;
    if (i !== undefined && i !== null) {
      if (typeof i !== "number") return undefined;
      out[RESPONSE_INPUT_TOKENS] = i;
    }
    if (o !== undefined && o !== null) {
      if (typeof o !== "number") return undefined;
      out[RESPONSE_OUTPUT_TOKENS] = o;
    }
  }
  const f = v.finishReason;
  if (f !== undefined && f !== null) {
    const k = FINISH.indexOf(f);
    if (k < 0) return undefined;
    out[RESPONSE_FINISH] = k;
  }
  return text;
}

// ---- reading host values (src/wasm/convert.rs, src/wasm/error.rs) ----
// Every read of a host value may run host code (getters, Proxy traps, toJSON) that throws.
// These helpers do all such reads on the JS side, inside try/catch, so that an exception
// never unwinds through wasm frames (which would skip Rust's cleanup and leave a lock or a
// borrow held); the wasm imports are `catch`, and a failure comes back as
// `{ tenantryPath, reason }`.

/** The message of anything thrown, without running more host code that could throw. */
export function describeThrown(e) {
  try {
    if (e instanceof Error) return String(e.message);
    if (typeof e === "string") return e;
  } catch {
    // a Proxy posing as an Error
  }
  return "a non-Error value";
}

function refusal(path, reason) {
  return { tenantryPath: path, reason };
}

const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/;

/** Whether a string is well-formed UTF-16 (no lone surrogates): only such strings convert to
 *  UTF-8 exactly, and an id that does not would be merged with its U+FFFD spelling. */
export function wellFormed(s) {
  return typeof s.isWellFormed === "function" ? s.isWellFormed() : !lone.test(s);
}

/** A plain copy of an options object's own enumerable string keys (each read once), so
 *  later reads run no getters or traps. Non-objects are returned as they are. */
export function readOptions(v, path) {
  if (v === null || (typeof v !== "object" && typeof v !== "function")) return v;
  const copy = Object.create(null);
  let key = "";
  try {
    for (key of Object.keys(v)) copy[key] = v[key];
  } catch (e) {
    throw refusal(key === "" ? path : `${path}.${key}`, `reading it threw: ${describeThrown(e)}`);
  }
  return copy;
}

/** `Array.isArray`, which throws for a revoked Proxy. */
export function isArray(v) {
  try {
    return Array.isArray(v);
  } catch {
    return false;
  }
}

/** A plain copy of an array's elements (each read once), so iterating it runs no traps. */
export function readArray(v, path) {
  let i = -1;
  try {
    const n = v.length;
    const copy = new Array(n);
    for (i = 0; i < n; i++) copy[i] = v[i];
    return copy;
  } catch (e) {
    throw refusal(i < 0 ? path : `${path}[${i}]`, `reading it threw: ${describeThrown(e)}`);
  }
}

/** Whether `v` is a Uint8Array; a Proxy whose prototype trap throws is not. */
export function isBytes(v) {
  try {
    return v instanceof Uint8Array;
  } catch {
    return false;
  }
}

/** Whether `v` is an AbortSignal; a Proxy whose prototype trap throws is not. */
export function isAbortSignal(v) {
  try {
    if (typeof AbortSignal !== "function" || !(v instanceof AbortSignal) || typeof v.aborted !== "boolean") return false;
    // Exercised as the run will use it, so a Proxy that fails there is refused up front
    // rather than taken as an abort later.
    const probe = () => {};
    v.addEventListener("abort", probe, { once: true });
    v.removeEventListener("abort", probe);
    void v.reason;
    return true;
  } catch {
    return false;
  }
}

const MAX_DEPTH = 256;

/** JSON text of a host value, exactly or not at all. `JSON.stringify` rewrites what it cannot
 *  represent (NaN and Infinity become null, functions and Symbols vanish, `toJSON` returns
 *  anything), and a limit that became null would read as "no limit". Here each of those is
 *  refused with the path of the value. `config`: `Infinity` (documented as "no cap") travels
 *  as the string "Infinity" and `toJSON` is refused; otherwise (model answers, tool
 *  results) `toJSON` is honoured (Dates) and non-finite numbers are refused. `skip` lists
 *  top-level keys to leave out (functions the caller reads separately). `limit`, when
 *  given, bounds the JSON text in characters: the walk stops as soon as it is passed, and
 *  an array or object with more elements than characters left is refused before its first
 *  element is read, so a huge (or Proxy-faked) length costs nothing. */
export function strictJson(value, path, config, skip, limit) {
  const seen = new Set();
  let left = limit ?? Infinity;
  // Every element costs at least one character (a comma, a digit), so a count above what
  // is left can never fit.
  const spend = (at, n) => {
    left -= n;
    if (left < 0) throw refusal(at, `is over ${limit} characters of JSON`);
  };
  const walk = (v, at, depth) => {
    if (v === null) {
      spend(at, 4);
      return "null";
    }
    switch (typeof v) {
      case "string": {
        if (!wellFormed(v)) throw refusal(at, "contains a lone UTF-16 surrogate");
        spend(at, v.length);
        const s = JSON.stringify(v);
        spend(at, s.length - v.length);
        return s;
      }
      case "number":
        if (Number.isFinite(v)) {
          const s = JSON.stringify(v);
          spend(at, s.length);
          return s;
        }
        if (config && v === Infinity) return '"Infinity"';
        throw refusal(at, `must be a finite number, got ${v}`);
      case "boolean":
        spend(at, 5);
        return v ? "true" : "false";
      case "undefined":
        return undefined;
      case "object":
        break;
      default:
        throw refusal(at, `must be JSON data, got a ${typeof v}`);
    }
    if (depth > MAX_DEPTH) throw refusal(at, `is nested deeper than ${MAX_DEPTH} levels`);
    if (seen.has(v)) throw refusal(at, "is circular");
    let toJSON;
    try {
      toJSON = v.toJSON;
    } catch (e) {
      throw refusal(at, `reading it threw: ${describeThrown(e)}`);
    }
    if (typeof toJSON === "function") {
      if (config) throw refusal(at, "has a toJSON method: pass plain data");
      let replaced;
      try {
        replaced = toJSON.call(v);
      } catch (e) {
        throw refusal(at, `its toJSON threw: ${describeThrown(e)}`);
      }
      seen.add(v);
      const out = walk(replaced, at, depth + 1);
      seen.delete(v);
      return out;
    }
    seen.add(v);
    const parts = [];
    let isArray;
    let keys;
    try {
      isArray = Array.isArray(v);
      keys = isArray ? null : Object.keys(v);
    } catch (e) {
      throw refusal(at, `reading it threw: ${describeThrown(e)}`);
    }
    if (isArray) {
      let n;
      try {
        n = v.length;
      } catch (e) {
        throw refusal(at, `reading it threw: ${describeThrown(e)}`);
      }
      spend(at, 2);
      if (n > left) throw refusal(at, `is over ${limit} characters of JSON`);
      for (let i = 0; i < n; i++) {
        let item;
        try {
          item = v[i];
        } catch (e) {
          throw refusal(`${at}[${i}]`, `reading it threw: ${describeThrown(e)}`);
        }
        const s = walk(item, `${at}[${i}]`, depth + 1);
        if (s === undefined) throw refusal(`${at}[${i}]`, "must not be undefined");
        spend(at, 1);
        parts.push(s);
      }
    } else {
      spend(at, 2);
      if (keys.length > left) throw refusal(at, `is over ${limit} characters of JSON`);
      for (const key of keys) {
        if (depth === 0 && skip !== undefined && skip.includes(key)) continue;
        const sub = at === "" ? key : `${at}.${key}`;
        if (!wellFormed(key)) throw refusal(sub, "the key contains a lone UTF-16 surrogate");
        let item;
        try {
          item = v[key];
        } catch (e) {
          throw refusal(sub, `reading it threw: ${describeThrown(e)}`);
        }
        const s = walk(item, sub, depth + 1);
        if (s !== undefined) {
          spend(sub, key.length + 4);
          parts.push(`${JSON.stringify(key)}:${s}`);
        }
      }
    }
    seen.delete(v);
    return isArray ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
  };
  try {
    const out = walk(value, path, 0);
    // A value whose toJSON gives `undefined` has no JSON form: not the same as null.
    if (out === undefined && value !== undefined) throw refusal(path, "has no JSON form");
    return out ?? "null";
  } catch (e) {
    if (e !== null && typeof e === "object" && "tenantryPath" in e) throw e;
    // RangeError from a runaway structure, or anything else unforeseen.
    throw refusal(path, `could not be read: ${describeThrown(e)}`);
  }
}
