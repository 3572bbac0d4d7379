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
