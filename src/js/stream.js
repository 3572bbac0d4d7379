// The object `agent.stream()` returns: an async iterable of run events that also converts
// to a ReadableStream, with the final result as a promise. Leaving the loop early (break,
// return, a thrown error) or cancelling the ReadableStream aborts the run, which then
// commits nothing.
export class RunStream {
  constructor(start) {
    this._queue = [];
    this._waiters = [];
    this._done = false;
    const push = (event) => {
      if (this._done) return;
      const waiter = this._waiters.shift();
      if (waiter) waiter({ value: event, done: false });
      else this._queue.push(event);
    };
    const end = () => {
      this._ended = true;
      if (this._queue.length === 0) this._finish();
    };
    const { result, cancel } = start(push, end);
    this._cancel = cancel;
    /** Resolves to the run's result, or rejects with its TenantryError. */
    this.result = result;
    // The error also arrives as an `error` event: a caller who only iterates must not see
    // an unhandled rejection.
    result.catch(() => {});
  }

  _finish() {
    this._done = true;
    for (const waiter of this._waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  next() {
    if (this._queue.length > 0) {
      const value = this._queue.shift();
      if (this._ended && this._queue.length === 0) this._done = true;
      return Promise.resolve({ value, done: false });
    }
    if (this._done || this._ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this._waiters.push(resolve));
  }

  return() {
    if (!this._ended) this._cancel();
    this._queue.length = 0;
    this._finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The events as a WHATWG ReadableStream of objects (encode them before a Response). */
  toReadableStream() {
    return new ReadableStream({
      pull: async (controller) => {
        const { value, done } = await this.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: () => {
        this.return();
      },
    });
  }

  /** Resolves to the final text (rejects like `result`). */
  get text() {
    return this.result.then((r) => r.text);
  }
}

export function makeRunStream(start) {
  return new RunStream(start);
}
