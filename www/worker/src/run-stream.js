// A run's events as the Worker answers them: SSE, with the first event awaited so a run
// refused up front gets its HTTP status, and a failing provider's text kept out.
import { SSE_HEADERS, errorResponse, isModelFailure, modelFailure, sseMessage } from "./http.js";

/** A mid-stream error event keeps the provider's text out, as a 502 body does. */
export function publicEvent(event) {
  if (event.type !== "error" || !isModelFailure(event.code)) return event;
  console.error("tenantry: the model provider failed mid-stream", event.code, event.message, JSON.stringify(event.details ?? {}));
  return { ...event, ...modelFailure(event.code, event.details) };
}

/**
 * The run as SSE. The first event is awaited before answering, so a run refused up front
 * (rate limit, budget, a model that fails before any text) gets its real HTTP status and
 * JSON error rather than a 200 stream holding one `error` event.
 */
export async function streamResponse(stream) {
  const first = await stream.next();
  // A run refused before any work (rate limit) ends the stream with no event at all, its
  // error only in `result`: look there whenever the first thing seen is not a success.
  if (first.done || first.value.type === "error") {
    try {
      await stream.result;
    } catch (err) {
      return errorResponse(err);
    }
  }
  const encoder = new TextEncoder();
  let pending = first.done ? undefined : first.value;
  let ended = first.done;
  const body = new ReadableStream({
    async pull(controller) {
      if (pending === undefined && !ended) {
        const next = await stream.next();
        ended = next.done;
        pending = next.value;
      }
      if (pending !== undefined) {
        controller.enqueue(encoder.encode(sseMessage(publicEvent(pending))));
        pending = undefined;
      } else {
        controller.close();
      }
    },
    // The client went away: aborting the run commits nothing of it.
    cancel() {
      stream.return();
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}
