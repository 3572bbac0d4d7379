// A2A's wire shapes of messages, parts, tasks and stream events, in the two dialects the
// endpoint speaks: v1.0 (ProtoJSON: `ROLE_USER`, `TASK_STATE_COMPLETED`, a part's content
// named by its field) and v0.3 (`kind` discriminators, lower-case states, `file` objects).
// Requests are read into one internal shape and answers written from it, so the task store
// and the runs never see a dialect. Everything read here came from JSON.parse: plain data,
// but any key may be missing, of any type, or named like an Object.prototype member.
import { HttpError, checkId } from "../http.js";

export const V1 = "1.0";
export const V03 = "0.3";

// Bounds on what one request may carry, under the 64 KiB body: a message's parts (the
// agent takes at most 100), the ids a client names, how much history it asks back.
const MAX_PARTS = 100;
const MAX_HISTORY_LENGTH = 10_000;
const MAX_OUTPUT_MODES = 32;

const TERMINAL = new Set(["completed", "failed", "canceled", "rejected"]);
export const isTerminal = (state) => TERMINAL.has(state);

/** Invalid params (-32602), naming the field. */
export function invalidParams(field, message) {
  return new HttpError(400, "invalid_params", `\`${field}\` ${message}`, { field });
}

const own = (obj, key) => (Object.hasOwn(obj, key) ? obj[key] : undefined);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function objectField(obj, key, path, { required = false } = {}) {
  const value = own(obj, key);
  if (value === undefined || value === null) {
    if (required) throw invalidParams(path, "is required");
    return undefined;
  }
  if (!isObject(value)) throw invalidParams(path, "must be an object");
  return value;
}

function stringField(obj, key, path, { required = false, max = 1024 } = {}) {
  const value = own(obj, key);
  if (value === undefined || value === null) {
    if (required) throw invalidParams(path, "is required");
    return undefined;
  }
  if (typeof value !== "string") throw invalidParams(path, "must be a string");
  if (!value.isWellFormed()) throw invalidParams(path, "is not well-formed Unicode (it holds a lone surrogate)");
  if (value.length > max) throw invalidParams(path, `must be at most ${max} characters`);
  return value;
}

/**
 * An id the client names (context, task, message): 1 to 255 bytes, no control characters.
 * The empty string is ProtoJSON's "unset", so it reads as absent.
 */
function idField(obj, key, path, { required = false } = {}) {
  const value = own(obj, key);
  if (value === undefined || value === null || value === "") {
    if (required) throw invalidParams(path, "is required");
    return undefined;
  }
  if (typeof value !== "string") throw invalidParams(path, "must be a string");
  try {
    return checkId(value, path);
  } catch (err) {
    throw invalidParams(path, err.message.replace(/^`[^`]*` /, ""));
  }
}

function historyLengthField(obj, path) {
  const value = own(obj, "historyLength");
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > MAX_HISTORY_LENGTH) {
    throw invalidParams(path, `must be an integer from 0 to ${MAX_HISTORY_LENGTH}`);
  }
  return value;
}

function booleanField(obj, key, path) {
  const value = own(obj, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidParams(path, "must be a boolean");
  return value;
}

// --- reading requests ------------------------------------------------------------------

function mediaTypeOf(value, path) {
  if (value === undefined) return undefined;
  if (!/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i.test(value)) throw invalidParams(path, "is not a media type");
  return value.toLowerCase();
}

/** A v1.0 part: exactly one of `text`, `raw`, `url`, `data`. */
function readV1Part(part, path) {
  if (!isObject(part)) throw invalidParams(path, "must be an object");
  const present = ["text", "raw", "url", "data"].filter((k) => own(part, k) !== undefined);
  if (present.length !== 1) throw invalidParams(path, "must hold exactly one of `text`, `raw`, `url`, `data`");
  objectField(part, "metadata", `${path}.metadata`);
  const mediaType = mediaTypeOf(stringField(part, "mediaType", `${path}.mediaType`, { max: 255 }), `${path}.mediaType`);
  const filename = stringField(part, "filename", `${path}.filename`, { max: 255 }) || undefined;
  switch (present[0]) {
    case "text":
      return { kind: "text", text: stringField(part, "text", `${path}.text`, { max: Infinity }) };
    case "raw":
      return fileOf({ bytes: stringField(part, "raw", `${path}.raw`, { max: Infinity }), mediaType, filename }, path);
    case "url":
      return fileOf({ url: stringField(part, "url", `${path}.url`, { max: 8192 }), mediaType, filename }, path);
    default:
      return { kind: "data", data: part.data };
  }
}

/** A v0.3 part: `kind` text, file (`uri` or `bytes`) or data. */
function readV03Part(part, path) {
  if (!isObject(part)) throw invalidParams(path, "must be an object");
  objectField(part, "metadata", `${path}.metadata`);
  const kind = own(part, "kind");
  if (kind === "text") return { kind: "text", text: stringField(part, "text", `${path}.text`, { required: true, max: Infinity }) };
  if (kind === "data") {
    const data = objectField(part, "data", `${path}.data`, { required: true });
    return { kind: "data", data };
  }
  if (kind === "file") {
    const file = objectField(part, "file", `${path}.file`, { required: true });
    const uri = stringField(file, "uri", `${path}.file.uri`, { max: 8192 });
    const bytes = stringField(file, "bytes", `${path}.file.bytes`, { max: Infinity });
    if ((uri === undefined) === (bytes === undefined)) throw invalidParams(`${path}.file`, "must hold exactly one of `uri`, `bytes`");
    const mediaType = mediaTypeOf(stringField(file, "mimeType", `${path}.file.mimeType`, { max: 255 }), `${path}.file.mimeType`);
    const filename = stringField(file, "name", `${path}.file.name`, { max: 255 }) || undefined;
    return fileOf(uri !== undefined ? { url: uri, mediaType, filename } : { bytes, mediaType, filename }, path);
  }
  throw invalidParams(`${path}.kind`, 'must be "text", "file" or "data"');
}

function fileOf({ url, bytes, mediaType, filename }, path) {
  // The agent reads images and documents by media type; without one it cannot tell which.
  if (mediaType === undefined) throw new HttpError(400, "content_type_not_supported", `\`${path}\` needs a media type`, { field: path });
  const file = { kind: "file", mediaType };
  if (url !== undefined) file.url = url;
  else file.bytes = bytes;
  if (filename !== undefined) file.filename = filename;
  return file;
}

/** The user's message of a send request, in the internal shape. */
function readMessage(message, dialect) {
  const path = "message";
  if (dialect === V03 && own(message, "kind") !== "message") throw invalidParams(`${path}.kind`, 'must be "message"');
  const role = own(message, "role");
  const user = dialect === V1 ? role === "ROLE_USER" || role === 1 : role === "user";
  if (!user) throw invalidParams(`${path}.role`, `must be ${dialect === V1 ? '"ROLE_USER"' : '"user"'}: a client sends the user's side`);
  const messageId = idField(message, "messageId", `${path}.messageId`, { required: true });
  const parts = own(message, "parts");
  if (!Array.isArray(parts) || parts.length === 0) throw invalidParams(`${path}.parts`, "must be a non-empty array");
  if (parts.length > MAX_PARTS) throw invalidParams(`${path}.parts`, `must hold at most ${MAX_PARTS} parts`);
  const read = dialect === V1 ? readV1Part : readV03Part;
  objectField(message, "metadata", `${path}.metadata`);
  return {
    messageId,
    parts: parts.map((p, i) => read(p, `${path}.parts[${i}]`)),
    contextId: idField(message, "contextId", `${path}.contextId`),
    taskId: idField(message, "taskId", `${path}.taskId`),
  };
}

/** Whether the client accepts text, the only thing this agent answers with. */
function acceptsText(modes, path) {
  if (modes === undefined || modes === null) return true;
  if (!Array.isArray(modes) || modes.length > MAX_OUTPUT_MODES || modes.some((m) => typeof m !== "string")) {
    throw invalidParams(path, `must be an array of at most ${MAX_OUTPUT_MODES} media types`);
  }
  return modes.length === 0 || modes.some((m) => ["text/plain", "text/*", "*/*"].includes(m.toLowerCase().split(";")[0].trim()));
}

/**
 * A SendMessage / message/send (and streaming) request's params, read and checked:
 * `{ message, contextId?, taskId?, historyLength? }`. What the endpoint does not offer is
 * refused rather than ignored: push notifications, a non-blocking send, an answer in a
 * media type other than text.
 */
export function readSendParams(params, dialect) {
  const message = readMessage(objectField(params, "message", "message", { required: true }), dialect);
  objectField(params, "metadata", "metadata");
  const config = objectField(params, "configuration", "configuration") ?? {};
  const push = own(config, dialect === V1 ? "taskPushNotificationConfig" : "pushNotificationConfig");
  if (push !== undefined && push !== null) {
    throw new HttpError(400, "push_notification_not_supported", "this agent sends no push notifications");
  }
  const nonBlocking = dialect === V1 ? booleanField(config, "returnImmediately", "configuration.returnImmediately") === true : booleanField(config, "blocking", "configuration.blocking") === false;
  if (nonBlocking) {
    throw new HttpError(400, "unsupported_operation", "this agent answers a send when the task is done: use SendStreamingMessage to follow it as it runs");
  }
  if (!acceptsText(own(config, "acceptedOutputModes"), "configuration.acceptedOutputModes")) {
    throw new HttpError(400, "content_type_not_supported", "this agent answers in text/plain only", { field: "configuration.acceptedOutputModes" });
  }
  const { contextId, taskId, ...rest } = message;
  return { message: rest, contextId, taskId, historyLength: historyLengthField(config, "configuration.historyLength") };
}

/** A GetTask / CancelTask (tasks/get, tasks/cancel) request's params: `{ id, historyLength? }`. */
export function readTaskParams(params, { history = false } = {}) {
  const id = idField(params, "id", "id", { required: true });
  return history ? { id, historyLength: historyLengthField(params, "historyLength") } : { id };
}

/** The params' `tenant` (v1.0's per-request tenant), for the router to hold against the caller's. */
export function namedTenant(params) {
  return idField(params, "tenant", "tenant");
}

/** What the agent runs: the one text as it is, or the parts as tenantry input parts. */
export function agentInput(parts) {
  if (parts.length === 1 && parts[0].kind === "text") return parts[0].text;
  return parts.map((p) => {
    if (p.kind === "text") return { type: "text", text: p.text };
    // Structured data reaches the model as its JSON text.
    if (p.kind === "data") return { type: "text", text: JSON.stringify(p.data) };
    const type = p.mediaType.startsWith("image/") ? "image" : "file";
    const part = { type, mediaType: p.mediaType };
    if (p.url !== undefined) part.url = p.url;
    else part.data = p.bytes;
    if (type === "file" && p.filename !== undefined) part.filename = p.filename;
    return part;
  });
}

// --- writing answers ---------------------------------------------------------------------

const V1_STATE = (state) => `TASK_STATE_${state.toUpperCase().replace(/-/g, "_")}`;

function v1Part(p) {
  if (p.kind === "text") return { text: p.text };
  if (p.kind === "data") return { data: p.data, mediaType: "application/json" };
  const out = p.url !== undefined ? { url: p.url } : { raw: p.bytes };
  out.mediaType = p.mediaType;
  if (p.filename !== undefined) out.filename = p.filename;
  return out;
}

function v03Part(p) {
  if (p.kind === "text") return { kind: "text", text: p.text };
  // A v0.3 data part holds an object; v1.0 data may be any JSON value.
  if (p.kind === "data") return { kind: "data", data: isObject(p.data) ? p.data : { value: p.data } };
  const file = p.url !== undefined ? { uri: p.url } : { bytes: p.bytes };
  file.mimeType = p.mediaType;
  if (p.filename !== undefined) file.name = p.filename;
  return { kind: "file", file };
}

function message(m, dialect) {
  if (dialect === V1) {
    return { messageId: m.messageId, contextId: m.contextId, taskId: m.taskId, role: m.role === "user" ? "ROLE_USER" : "ROLE_AGENT", parts: m.parts.map(v1Part) };
  }
  return { kind: "message", messageId: m.messageId, contextId: m.contextId, taskId: m.taskId, role: m.role, parts: m.parts.map(v03Part) };
}

function artifact(a, dialect) {
  return { artifactId: a.artifactId, name: a.name, parts: a.parts.map(dialect === V1 ? v1Part : v03Part) };
}

function status(s, dialect) {
  const out = { state: dialect === V1 ? V1_STATE(s.state) : s.state, timestamp: s.timestamp };
  if (s.message) out.message = message(s.message, dialect);
  return out;
}

/** A stored task as the dialect's Task, its history cut to the last `historyLength` messages. */
export function wireTask(task, dialect, historyLength) {
  const history = historyLength === undefined ? task.history : historyLength === 0 ? [] : task.history.slice(-historyLength);
  const out = dialect === V1 ? {} : { kind: "task" };
  Object.assign(out, { id: task.id, contextId: task.contextId, status: status(task.status, dialect) });
  if (task.artifacts.length) out.artifacts = task.artifacts.map((a) => artifact(a, dialect));
  if (history.length) out.history = history.map((m) => message(m, dialect));
  return out;
}

/** A send's result: v1.0 wraps it by type (`{ task }`), v0.3 tags it with `kind`. */
export function wireSendResult(task, dialect, historyLength) {
  const t = wireTask(task, dialect, historyLength);
  return dialect === V1 ? { task: t } : t;
}

/** One stream event: `{ type: "task" | "artifact" | "status", ... }` in the dialect's shape. */
export function wireStreamEvent(event, dialect, historyLength) {
  if (event.type === "task") return wireSendResult(event.task, dialect, historyLength);
  if (event.type === "artifact") {
    const update = { taskId: event.taskId, contextId: event.contextId, artifact: artifact(event.artifact, dialect), append: event.append, lastChunk: event.lastChunk };
    return dialect === V1 ? { artifactUpdate: update } : { kind: "artifact-update", ...update };
  }
  const update = { taskId: event.taskId, contextId: event.contextId, status: status(event.status, dialect) };
  // v0.3 marks the last event of a stream; v1.0 ends the stream on a terminal state.
  return dialect === V1 ? { statusUpdate: update } : { kind: "status-update", ...update, final: isTerminal(event.status.state) };
}
