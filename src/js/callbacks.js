// The JS half of src/wasm/callbacks.rs: plain JS arrow functions that call one long-lived
// wasm callback with a slot (index, ticket), instead of a fresh wasm-bindgen closure per
// await or per call.

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
