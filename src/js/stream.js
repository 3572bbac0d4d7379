// The object `agent.stream()` and `agent.streamChat()` return: one run's events, read once,
// either as an async iterable of event objects or converted to a stream or a `Response` in
// a form clients speak. The events wait in a queue on the wasm side (src/wasm/stream.rs),
// which hands each one out in the form asked for; the encodings themselves are the core's
// (src/ui/stream.rs). Leaving the loop early (break, return, a thrown error) or cancelling
// a stream aborts the run, which then commits nothing.

// Copies of the core's tables (src/ui/stream.rs, whose tests compare them with these).
const UI_MESSAGE_STREAM_HEADERS = [["content-type","text/event-stream"],["cache-control","no-cache"],["connection","keep-alive"],["x-vercel-ai-ui-message-stream","v1"],["x-accel-buffering","no"]];
const TEXT_STREAM_HEADERS = [["content-type","text/plain; charset=utf-8"]];
const EVENT_STREAM_HEADERS = [["content-type","text/event-stream; charset=utf-8"],["cache-control","no-cache"],["connection","keep-alive"],["x-accel-buffering","no"]];

export class RunStream {
  constructor(start) {
    this._waiters = [];
    // The run is over: the queue holds all there will be.
    this._ended = false;
    // Left early, or read to the end: nothing more is handed out.
    this._closed = false;
    const wake = () => {
      for (const waiter of this._waiters.splice(0)) waiter();
    };
    const end = () => {
      this._ended = true;
      wake();
    };
    const { result, cancel, read } = start(wake, end);
    this._cancel = cancel;
    this._read = read;
    /** Resolves to the run's result, or rejects with its TenantryError. */
    this.result = result;
    // The error also arrives as an `error` event: a caller who only iterates must not see
    // an unhandled rejection.
    result.catch(() => {});
  }

  _wait() {
    return new Promise((resolve) => this._waiters.push(resolve));
  }

  /** The next event in `format` (a string, maybe empty), or undefined at the end. */
  async _take(format) {
    for (;;) {
      if (this._closed) return undefined;
      const out = this._read(format);
      if (out !== undefined) return out;
      if (this._ended) return undefined;
      await this._wait();
    }
  }

  async next() {
    const text = await this._take("event");
    if (text === undefined) {
      this._closed = true;
      return { value: undefined, done: true };
    }
    return { value: JSON.parse(text), done: false };
  }

  /** The next event without taking it (undefined when the run ended with none left). */
  async peek() {
    for (;;) {
      if (this._closed) return undefined;
      const text = this._read("peek");
      if (text !== undefined) return JSON.parse(text);
      if (this._ended) return undefined;
      await this._wait();
    }
  }

  return() {
    if (!this._ended) this._cancel();
    this._closed = true;
    for (const waiter of this._waiters.splice(0)) waiter();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /**
   * A ReadableStream pulling one event at a time in `format`; `emit` enqueues what one
   * event became and says whether that was anything. Cancelling it aborts the run.
   */
  _stream(format, emit, atEnd = (controller) => controller.close()) {
    return new ReadableStream({
      pull: async (controller) => {
        for (;;) {
          const out = await this._take(format);
          if (out === undefined) return atEnd(controller);
          if (emit(controller, out)) return;
        }
      },
      cancel: () => {
        this.return();
      },
    });
  }

  _bytes(format, atEnd) {
    const encoder = new TextEncoder();
    const emit = (controller, text) => {
      if (text === "") return false;
      controller.enqueue(encoder.encode(text));
      return true;
    };
    return this._stream(format, emit, atEnd);
  }

  /** The events as a ReadableStream of event objects (not bytes: see `toSSEResponse`). */
  toReadableStream() {
    return this._stream("event", (controller, text) => {
      controller.enqueue(JSON.parse(text));
      return true;
    });
  }

  /** The run as AI SDK UI message chunks (what `readUIMessageStream` reads). */
  toUIMessageStream() {
    return this._stream("ui", (controller, text) => {
      if (text === "") return false;
      for (const chunk of JSON.parse(text)) controller.enqueue(chunk);
      return true;
    });
  }

  /** The UI message stream as the SSE `Response` `useChat` reads. */
  toUIMessageStreamResponse(init) {
    return response(this._bytes("ui-sse"), UI_MESSAGE_STREAM_HEADERS, init);
  }

  /**
   * The text as it is produced, as a text/plain `Response`. Text has no way to say that
   * the run failed, so a failure errors the body: the client sees a cut response, never
   * a short one that looks whole.
   */
  toTextStreamResponse(init) {
    const atEnd = async (controller) => {
      try {
        await this.result;
        controller.close();
      } catch (err) {
        controller.error(err);
      }
    };
    return response(this._bytes("text", atEnd), TEXT_STREAM_HEADERS, init);
  }

  /** The events as a Server-Sent Events `Response`, one message per event named by type. */
  toSSEResponse(init) {
    return response(this._bytes("event-sse"), EVENT_STREAM_HEADERS, init);
  }

  /** Resolves to the final text (rejects like `result`). */
  get text() {
    return this.result.then((r) => r.text);
  }
}

/** Headers the caller set win over the defaults, as the AI SDK's own responses do. */
function response(body, defaults, init) {
  const { status = 200, statusText, headers } = init ?? {};
  const merged = new Headers(headers);
  for (const [name, value] of defaults) if (!merged.has(name)) merged.set(name, value);
  return new Response(body, { status, statusText, headers: merged });
}

export function makeRunStream(start) {
  return new RunStream(start);
}
