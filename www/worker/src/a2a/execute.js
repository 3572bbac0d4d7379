// A2A tasks run inside the tenant's Durable Object: one task per message, run by the
// tenant's Agent in the session named by the task's context, and kept in the tenant's task
// store. The object speaks to the router (rpc.js) over its internal protocol:
//
//   POST /a2a/send    { rpcId, dialect, message, contextId?, taskId?, historyLength? } -> JSON-RPC response
//   POST /a2a/stream  the same                                                          -> SSE of JSON-RPC responses
//   POST /a2a/get     { rpcId, dialect, id, historyLength? }                            -> JSON-RPC response
//   POST /a2a/cancel  { rpcId, dialect, id }                                            -> JSON-RPC response
//
// Errors are the Worker's `{ error: { code, ... } }`, which the router turns into JSON-RPC
// errors. A running task's AbortController lives in this object's memory: CancelTask aborts
// the run, which then commits nothing to the agent's memory, and the task ends canceled.
import { HttpError, SSE_HEADERS, isModelFailure, json, modelFailure } from "../http.js";
import { TaskStore, maxTasks } from "./tasks.js";
import { agentInput, isTerminal, wireSendResult, wireStreamEvent, wireTask } from "./wire.js";

const RESPONSE_ARTIFACT = "response";

const now = () => new Date().toISOString();
const rpcResult = (rpcId, result) => ({ jsonrpc: "2.0", id: rpcId, result });

const taskNotFound = (id) => new HttpError(404, "task_not_found", "no such task", { taskId: id });

/** What a failed run tells the client: the error's code and message, a provider's text left out. */
function failureText(err) {
  const code = typeof err?.code === "string" ? err.code : "internal";
  if (isModelFailure(code)) return `${code}: ${modelFailure(code, err.details).message}`;
  if (code === "internal" || typeof err?.message !== "string") return "internal: the run failed";
  return `${code}: ${err.message}`;
}

export class A2ATasks {
  constructor(storage, env) {
    this.store = new TaskStore(storage, maxTasks(env));
    this.running = new Map(); // task id -> { controller, done }
    this.generation = 0; // bumped by an erasure: runs begun before it store nothing after it
  }

  async handle(op, agent, tenant, request) {
    const body = await request.json();
    switch (op) {
      case "send":
        return this.send(agent, tenant, body);
      case "stream":
        return this.stream(agent, tenant, body);
      case "get":
        return this.get(body);
      case "cancel":
        return this.cancel(body);
      default:
        throw new HttpError(404, "not_found", `no A2A operation ${op}`);
    }
  }

  /**
   * Starts the run of a new task for `message`. A message naming a task continues nothing:
   * every task here ends when its run does, so a named task is either unknown (TaskNotFound)
   * or done or still running (UnsupportedOperation). A run refused before its first event
   * (rate or budget limits, input the agent rejects) throws, and no task is kept.
   */
  async begin(agent, tenant, { message, contextId, taskId }) {
    if (taskId !== undefined) {
      const named = await this.store.get(taskId);
      if (named === null) throw taskNotFound(taskId);
      if (contextId !== undefined && contextId !== named.contextId) {
        throw new HttpError(400, "invalid_params", "`message.contextId` is not the context of `message.taskId`", { field: "message.contextId" });
      }
      throw new HttpError(400, "unsupported_operation", `task ${taskId} is ${named.status.state} and takes no further message: send without taskId (same contextId) to continue the conversation`);
    }
    // Unguessable ids: a context or a task is found by its id alone within the tenant.
    const context = contextId ?? crypto.randomUUID();
    const id = crypto.randomUUID();
    const generation = this.generation;
    const controller = new AbortController();
    const stream = agent.stream(agentInput(message.parts), tenant, { sessionId: context, signal: controller.signal });
    const first = await stream.peek();
    if (first === undefined || first.type === "error") await stream.result;
    // Its failure is read from the events; this keeps the promise from rejecting unheard.
    stream.result.catch(() => {});
    const task = {
      id,
      contextId: context,
      status: { state: "working", timestamp: now() },
      artifacts: [],
      history: [{ ...message, role: "user", contextId: context, taskId: id }],
    };
    // Registered before the first await that follows, so a CancelTask that comes in while
    // the task is stored finds its run.
    let settle;
    const done = new Promise((resolve) => (settle = resolve));
    this.running.set(id, { controller, done });
    try {
      if (generation === this.generation) await this.store.put(task, (tid) => this.running.has(tid));
    } catch (err) {
      this.running.delete(id);
      controller.abort();
      // A CancelTask already waiting on this run hears the failure too.
      done.catch(() => {});
      settle(Promise.reject(err));
      throw err;
    }
    return { task, stream, controller, generation, settle };
  }

  /**
   * Runs the task to its end, passing each event to `emit`: the reply's text as chunks of
   * one artifact (each sent once the next arrives, so the last can say it is the last),
   * then the terminal status. Resolves to the task as stored.
   */
  drive({ task, stream, controller, generation, settle }, emit) {
    const ids = { taskId: task.id, contextId: task.contextId };
    const chunk = (text, append, lastChunk) =>
      emit({ type: "artifact", ...ids, artifact: { artifactId: RESPONSE_ARTIFACT, name: RESPONSE_ARTIFACT, parts: [{ kind: "text", text }] }, append, lastChunk });
    const done = (async () => {
      let held;
      let sent = false;
      let failure;
      let finalText;
      try {
        for await (const event of stream) {
          if (event.type === "text-delta" && event.text) {
            if (held !== undefined) {
              chunk(held, sent, false);
              sent = true;
            }
            held = event.text;
          } else if (event.type === "finish") {
            finalText = event.text;
          } else if (event.type === "error") {
            failure = event;
          }
        }
        // Rejects if the run failed or was aborted, even after its last event: only a run
        // that committed is completed, whenever an abort came.
        finalText ??= (await stream.result).text;
      } catch (err) {
        failure ??= err;
      }
      let state = "completed";
      if (failure !== undefined) state = failure.code === "aborted" || controller.signal.aborted ? "canceled" : "failed";
      const reply = (text) => ({ messageId: crypto.randomUUID(), role: "agent", parts: [{ kind: "text", text }], ...ids });
      if (state === "completed") {
        if (held !== undefined) chunk(held, sent, true);
        else if (!sent) chunk(finalText, false, true);
        task.artifacts = [{ artifactId: RESPONSE_ARTIFACT, name: RESPONSE_ARTIFACT, parts: [{ kind: "text", text: finalText }] }];
        task.history.push(reply(finalText));
        task.status = { state, timestamp: now() };
      } else {
        // Nothing of an unfinished reply is kept: the agent committed none of it either.
        task.status = { state, timestamp: now(), message: reply(state === "canceled" ? "canceled: the task was canceled" : failureText(failure)) };
        if (state === "failed" && isModelFailure(failure.code)) {
          console.error("tenantry: the model provider failed (A2A task)", failure.code, failure.message, JSON.stringify(failure.details ?? {}));
        }
      }
      try {
        if (generation === this.generation) await this.store.put(task, (tid) => this.running.has(tid));
      } finally {
        this.running.delete(task.id);
      }
      emit({ type: "status", ...ids, status: task.status });
      return task;
    })();
    settle(done);
    return done;
  }

  async send(agent, tenant, { rpcId, dialect, historyLength, ...request }) {
    const run = await this.begin(agent, tenant, request);
    const task = await this.drive(run, () => {});
    return json(rpcResult(rpcId, wireSendResult(task, dialect, historyLength)));
  }

  /**
   * The task as SSE: the task first (working), then its artifact and status updates, each
   * a JSON-RPC response. A client that hangs up cancels the task: its run is aborted.
   */
  async stream(agent, tenant, { rpcId, dialect, historyLength, ...request }) {
    const run = await this.begin(agent, tenant, request);
    const encoder = new TextEncoder();
    const sse = (result) => encoder.encode(`data: ${JSON.stringify(rpcResult(rpcId, result))}\n\n`);
    let out;
    let open = true;
    const body = new ReadableStream({
      start(controller) {
        out = controller;
      },
      cancel() {
        open = false;
        run.controller.abort();
      },
    });
    // Snapshot: later events must not show through the first one.
    out.enqueue(sse(wireStreamEvent({ type: "task", task: structuredClone(run.task) }, dialect, historyLength)));
    const emit = (event) => {
      if (open) out.enqueue(sse(wireStreamEvent(event, dialect)));
    };
    this.drive(run, emit).then(
      () => open && out.close(),
      (err) => {
        console.error("tenantry worker: an A2A stream failed", err?.stack ?? err);
        if (open) out.error(err);
      },
    );
    return new Response(body, { headers: SSE_HEADERS });
  }

  async get({ rpcId, dialect, id, historyLength }) {
    const task = await this.store.get(id);
    if (task === null) throw taskNotFound(id);
    return json(rpcResult(rpcId, wireTask(task, dialect, historyLength)));
  }

  async cancel({ rpcId, dialect, id }) {
    let task = await this.store.get(id);
    if (task === null) throw taskNotFound(id);
    const run = this.running.get(id);
    const notCancelable = (state) => new HttpError(409, "task_not_cancelable", `task ${id} is ${state}`, { taskId: id, state });
    if (run) {
      run.controller.abort();
      task = await run.done;
      // A run that finished before the abort reached it stays as it ended.
      if (task.status.state !== "canceled") throw notCancelable(task.status.state);
    } else if (isTerminal(task.status.state)) {
      throw notCancelable(task.status.state);
    } else {
      // Working, but with no run in this object: it was lost with an earlier instance of it.
      task.status = { state: "canceled", timestamp: now() };
      await this.store.put(task);
    }
    return json(rpcResult(rpcId, wireTask(task, dialect)));
  }

  /** The tenant's erasure: running tasks aborted, every task record deleted. */
  async clear() {
    this.generation++;
    for (const { controller } of this.running.values()) controller.abort();
    await this.store.clear();
  }
}
