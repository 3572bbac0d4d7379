// Hostile values at the JS boundary, as data: every exported function, method, option and
// host callback answer crossed with values that break naive conversions (lone surrogates,
// throwing getters and Proxy traps, revoked Proxies, non-finite numbers, functions,
// Symbols, BigInt, toJSON tricks, cycles, huge strings, 100,000-level nesting, null and
// arrays in the wrong place). Plain ESM with no Node imports: `hostile.test.mjs` runs the
// list in child Node processes and `browser.test.mjs` runs the same list in Chromium.
//
// hostileCases(tenantry) returns [{ name, group, run(h) }]; run resolves to { ok, detail }.
// A failing detail starts with its cause in brackets ("[sync-throw] ..."), so a report can
// group failures by what has to be fixed rather than by where they were found.
// runHostile(cases, options) runs them with uncaught-exception traps and hang detection.

/** How long one awaited call may take before it counts as a hang. */
export const HANG_MS = 3000;

// Causes after which the wasm instance may be left inconsistent (an exception that unwound
// through wasm frames skips Rust's cleanup): the runner stops, and the host restarts it in
// a fresh process or page so that no later case fails because of an earlier one.
const POISONING = new Set(["sync-throw", "not-tenantry-error", "uncaught", "hang", "stuck-session", "crash", "case-error"]);

const ECHO_USAGE = { inputTokens: 3, outputTokens: 2 };
const FINISH_REASONS = ["stop", "length", "content-filter", "tool-calls", "error", "other"];
const AUDIT_KEY = "hostile-test-audit-key-0123456789";

// ---------------------------------------------------------------------------------------
// Hostile values

function boom(what) {
  throw new Error(`hostile ${what}`);
}

const TRAPS_ALL = ["get", "set", "has", "deleteProperty", "ownKeys", "getOwnPropertyDescriptor", "defineProperty", "getPrototypeOf", "setPrototypeOf", "isExtensible", "preventExtensions", "apply", "construct"];

function proxyTarget(base) {
  if (typeof base === "function") return base;
  if (Array.isArray(base)) return [...base];
  if (base !== null && typeof base === "object") return base;
  return {};
}

function trapProxy(base, traps) {
  const handler = {};
  for (const t of traps) handler[t] = () => boom(`${t} trap`);
  return new Proxy(proxyTarget(base), handler);
}

function revokedProxy(base) {
  const { proxy, revoke } = Proxy.revocable(proxyTarget(base), {});
  revoke();
  return proxy;
}

/** The base's own keys (or index 0 / "value") as getters that throw. */
function throwingGetters(base) {
  const isArr = Array.isArray(base);
  const o = isArr ? [] : {};
  let keys = base !== null && typeof base === "object" ? Object.keys(base) : [];
  if (keys.length === 0) keys = [isArr ? "0" : "value"];
  for (const k of keys) {
    Object.defineProperty(o, k, { enumerable: true, configurable: true, get: () => boom(`getter ${k}`) });
  }
  return o;
}

function cycle(base) {
  if (Array.isArray(base)) {
    const a = [...base];
    a.push(a);
    return a;
  }
  const o = base !== null && typeof base === "object" ? { ...base } : {};
  o.self = o;
  return o;
}

let hugeString;
const huge = () => (hugeString ??= "x".repeat(1024 * 1024 + 16));
let deepObj;
let deepArr;
const DEPTH = 100_000;
function deepObject() {
  if (!deepObj) {
    let o = {};
    for (let i = 0; i < DEPTH; i++) o = { d: o };
    deepObj = o;
  }
  return deepObj;
}
function deepArray() {
  if (!deepArr) {
    let a = [];
    for (let i = 0; i < DEPTH; i++) a = [a];
    deepArr = a;
  }
  return deepArr;
}

/** [label, make(base)]: `base` is the valid value at that position (Proxies wrap it). */
export const HOSTILE = [
  ["lone \\ud800", () => "\ud800"],
  ["lone bob\\udfff", () => "bob\udfff"],
  ["lone \\udc00x", () => "\udc00x"],
  ["throwing getters", (b) => throwingGetters(b)],
  ["Proxy get throws", (b) => trapProxy(b, ["get"])],
  ["Proxy has throws", (b) => trapProxy(b, ["has"])],
  ["Proxy ownKeys throws", (b) => trapProxy(b, ["ownKeys"])],
  ["Proxy getOwnPropertyDescriptor throws", (b) => trapProxy(b, ["getOwnPropertyDescriptor"])],
  ["Proxy getPrototypeOf throws", (b) => trapProxy(b, ["getPrototypeOf"])],
  ["Proxy every trap throws", (b) => trapProxy(b, TRAPS_ALL)],
  ["revoked Proxy", (b) => revokedProxy(b)],
  ["NaN", () => NaN],
  ["Infinity", () => Infinity],
  ["-Infinity", () => -Infinity],
  ["-0", () => -0],
  ["function", () => function hostileFunction() {}],
  ["Symbol", () => Symbol("hostile")],
  ["BigInt", () => 12n],
  ["toJSON null", () => ({ toJSON: () => null })],
  ["toJSON undefined", () => ({ toJSON: () => undefined })],
  ["toJSON 42", () => ({ toJSON: () => 42 })],
  ["toJSON throws", () => ({ toJSON: () => boom("toJSON") })],
  ["cycle", (b) => cycle(b)],
  ["huge string", () => huge()],
  ["deep object", () => deepObject()],
  ["deep array", () => deepArray()],
  ["null", () => null],
  ["array", () => []],
];

const LONE = new Set(["lone \\ud800", "lone bob\\udfff", "lone \\udc00x"]);
// Traps that reading an object's properties (get) or enumerating them (Object.keys)
// does not need: a Proxy throwing only there can still be read exactly.
const BENIGN = new Set(["Proxy has throws", "Proxy getPrototypeOf throws"]);
// Objects whose properties cannot be read at all.
const UNREADABLE = new Set(["throwing getters", "Proxy get throws", "Proxy every trap throws", "revoked Proxy"]);
const ENUM_THROWS = new Set(["Proxy ownKeys throws", "Proxy getOwnPropertyDescriptor throws"]);
const PROXIES = new Set([...BENIGN, ...ENUM_THROWS, "Proxy get throws", "Proxy every trap throws", "revoked Proxy"]);

// ---------------------------------------------------------------------------------------
// Outcomes

function isThenable(v) {
  try {
    return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
  } catch {
    return false;
  }
}

function describeError(e) {
  try {
    if (e === null || e === undefined) return String(e);
    if (typeof e !== "object" && typeof e !== "function") return `${typeof e} ${String(e).slice(0, 200)}`;
    const name = e.constructor?.name ?? "object";
    const code = typeof e.code === "string" ? ` code=${e.code}` : "";
    const field = e.details && typeof e.details.field === "string" ? ` field=${JSON.stringify(e.details.field)}` : "";
    return `${name}${code}${field}: ${String(e.message).slice(0, 300)}`;
  } catch {
    return "<an unprintable value>";
  }
}

function summary(v) {
  try {
    const s = JSON.stringify(v, (k, x) => (typeof x === "string" && x.length > 80 ? `${x.slice(0, 80)}...(${x.length})` : typeof x === "bigint" ? `${x}n` : x));
    return s === undefined ? String(v) : s.slice(0, 300);
  } catch {
    return `<${typeof v}>`;
  }
}

const pass = (extra) => ({ ok: true, detail: "", ...extra });
const fail = (cause, text) => ({ ok: false, detail: `[${cause}] ${text}` });
export const causeOf = (detail) => /^\[([^\]]+)\]/.exec(detail ?? "")?.[1] ?? "unknown";

export function normPath(p) {
  return String(p)
    .replace(/\[("(?:[^"\\]|\\.)*")\]/g, (_, q) => "." + JSON.parse(q))
    .replace(/\[(\d+)\]/g, ".$1")
    .replace(/^\./, "");
}

/** `field` names `path` or something inside it (a bad value deep in an option). */
function fieldWithin(field, path, alts = []) {
  if (typeof field !== "string") return false;
  const f = normPath(field);
  return [path, ...alts].some((p) => p === "" || f === p || f.startsWith(p + "."));
}

/** Calls `fn` and classifies what happened without letting anything escape. */
async function outcome(h, fn) {
  let p;
  try {
    p = fn();
  } catch (error) {
    return { kind: "threw", error };
  }
  if (!isThenable(p)) return { kind: "returned", value: p };
  return h.wait(p);
}

function checkError(T, e, { codes, field, fieldAlts, what }) {
  if (!(e instanceof T.TenantryError) || typeof e.code !== "string") {
    return fail("not-tenantry-error", `${what}: ${describeError(e)}`);
  }
  if (codes && !codes.includes(e.code)) return fail("wrong-code", `${what}: expected ${codes.join("|")}, got ${describeError(e)}`);
  if (field !== undefined && !fieldWithin(e.details?.field, field, fieldAlts)) {
    return fail("wrong-field", `${what}: expected details.field ${JSON.stringify(field)}, got ${describeError(e)}`);
  }
  return null;
}

/**
 * An async entry point: must return a promise (never throw), that settles, and rejects
 * with a TenantryError of one of `codes` ("reject"), or may also resolve ("either").
 */
async function expectAsync(h, T, fn, { mode = "reject", codes, field, fieldAlts, what = "call" }) {
  const o = await outcome(h, fn);
  switch (o.kind) {
    case "threw":
      return { ...fail("sync-throw", `${what} threw synchronously instead of rejecting: ${describeError(o.error)}`), o };
    case "returned":
      return { ...fail("sync-throw", `${what} returned ${summary(o.value)}, not a promise`), o };
    case "hung":
      return { ...fail("hang", `${what} did not settle within ${h.hangMs} ms`), o };
    case "uncaught":
      return { ...fail("uncaught", `${what}: ${o.detail}`), o };
    case "rejected": {
      const bad = checkError(T, o.error, { codes, field, fieldAlts, what });
      return bad ? { ...bad, o } : pass({ o });
    }
    default:
      if (mode === "reject") return { ...fail("accepted", `${what} resolved (${summary(o.value)}) instead of rejecting${codes ? ` with ${codes.join("|")}` : ""}`), o };
      return pass({ o });
  }
}

/** A synchronous entry point: may throw a TenantryError of `codes`, or return ("either"). */
function expectSync(T, fn, { mode = "reject", codes, field, fieldAlts, what = "call" }) {
  let value;
  try {
    value = fn();
  } catch (e) {
    const bad = checkError(T, e, { codes, field, fieldAlts, what });
    return bad ?? pass({ threw: e });
  }
  if (isThenable(value)) Promise.resolve(value).catch(() => {});
  if (mode === "reject") return { ...fail("accepted", `${what} returned ${summary(value)} instead of throwing${codes ? ` ${codes.join("|")}` : ""}`), value };
  return pass({ value });
}

function all(results) {
  const bad = results.filter((r) => r && !r.ok);
  if (bad.length === 0) return pass();
  return { ok: false, detail: bad.map((r) => r.detail).join(" / ") };
}

// ---------------------------------------------------------------------------------------
// Models, tools and storage used by the cases

const lastOf = (req) => req.messages[req.messages.length - 1];

/** Answers from its input, so a reply shows whose conversation it saw. */
const echo = (req) => ({ text: `echo: ${lastOf(req).content}`, usage: ECHO_USAGE, finishReason: "stop" });

/** Every user message the model was sent: a second user id that shares memory shows. */
const seen = (req) => ({
  text: `seen: ${req.messages.filter((m) => m.role === "user").map((m) => m.content).join("|")}`,
  usage: ECHO_USAGE,
});

/** Calls tool `t` once, then reports what the tool answered. */
function toolModel(req) {
  const last = lastOf(req);
  if (last.role === "tool") return { text: `tool said: ${String(last.content).slice(0, 60)}`, usage: ECHO_USAGE };
  if (req.tools.some((t) => t.name === "t")) return { text: "", toolCalls: [{ id: "c1", name: "t", arguments: { q: 1 } }], usage: ECHO_USAGE };
  return echo(req);
}

const TOOL = () => ({
  name: "t",
  description: "a test tool",
  parameters: { type: "object", properties: { q: { type: "number" } } },
  execute: () => ({ ok: true }),
});

/** The tool model under the name "m", which `budget.prices` prices (cost limits need one). */
const pricedModel = () => Object.assign((req) => toolModel(req), { modelId: "m" });

/** A synchronous Map store (adapters may be sync), so a hostile answer can wrap the real one. */
function mapStorage() {
  const map = new Map();
  return {
    map,
    get: (k) => (map.has(k) ? map.get(k) : null),
    put: (k, v) => void map.set(k, v),
    delete: (k) => void map.delete(k),
    list: (p) => [...map.keys()].filter((k) => k.startsWith(p)),
  };
}

/** Every config section with every option set to a valid value. */
function sections(T) {
  return {
    model: pricedModel(),
    modelName: "m",
    requireUser: false,
    name: "agent",
    instructions: "Be brief.",
    memory: {
      maxMessagesPerSession: 10,
      maxContextTokens: 4000,
      maxSessionsPerUser: 5,
      maxUsers: 100,
      idleTtlMs: 60_000,
      recall: { topK: 2 },
      tools: ["memory_remember", "memory_search"],
      storage: T.memoryStorage(),
      clock: () => Date.now(),
    },
    maxOutputTokens: 100,
    budget: {
      perUser: { maxInputTokens: 100_000, maxOutputTokens: 100_000, maxTotalTokens: 100_000, maxCostUsd: 100, maxRequests: 1000, window: "day" },
      global: { maxInputTokens: 1_000_000, maxOutputTokens: 1_000_000, maxTotalTokens: 1_000_000, maxCostUsd: 1000, maxRequests: 100_000, window: "day" },
      plans: { pro: { maxInputTokens: 200_000, maxOutputTokens: 200_000, maxTotalTokens: 200_000, maxCostUsd: 200, maxRequests: 2000, window: "day" } },
      prices: { m: { inputPerMTok: 1, outputPerMTok: 2 } },
      // User "p-pro" is on plan "pro" (its limits replace perUser's); "p" is on none.
      planOf: (userId) => (userId === "p-pro" ? "pro" : null),
      defaultPrices: true,
      // Org "o-big" is on org plan "big" (its limits replace perOrg's); "o" is on none.
      perOrg: { maxInputTokens: 300_000, maxOutputTokens: 300_000, maxTotalTokens: 300_000, maxCostUsd: 300, maxRequests: 3000, window: "day" },
      orgPlans: { big: { maxInputTokens: 400_000, maxOutputTokens: 400_000, maxTotalTokens: 400_000, maxCostUsd: 400, maxRequests: 4000, window: "day" } },
      orgPlanOf: (orgId) => (orgId === "o-big" ? "big" : null),
    },
    rateLimit: { perUser: { requests: 100, perMs: 1000, burst: 100 }, perOrg: { requests: 100, perMs: 1000, burst: 100 } },
    tools: [TOOL()],
    permissions: { default: "allow", users: { bob: { allow: ["t"], deny: [], requireApproval: [] } }, requireApproval: [] },
    policy: () => "allow",
    approve: () => true,
    maxSteps: 4,
    approvalTimeoutMs: 1000,
    audit: { key: AUDIT_KEY, sink: () => {}, ringSize: 100, includeContent: false },
    onEvent: () => {},
    // Nothing listens there: a run lists nothing from it and goes on without its tools.
    mcp: [{ name: "crm", url: "http://127.0.0.1:9/mcp", headers: () => ({ authorization: "Bearer t" }), timeoutMs: 1000, cacheTtlMs: 1000 }],
  };
}

const TOOL_GROUP = ["tools", "permissions", "policy", "approve", "approvalTimeoutMs"];

function segs(path) {
  return path === "" ? [] : path.split(".");
}

function getPath(obj, path) {
  let o = obj;
  for (const s of segs(path)) o = o?.[s];
  return o;
}

function setPath(obj, path, value) {
  const s = segs(path);
  let o = obj;
  for (const k of s.slice(0, -1)) o = o[k];
  o[s[s.length - 1]] = value;
}

/** A config with the section that holds `path` (and the sections it needs). */
function configFor(T, path, prep) {
  const all = sections(T);
  prep?.(all);
  const top = segs(path)[0];
  const keys = TOOL_GROUP.includes(top) ? TOOL_GROUP : top === "model" ? [] : [top];
  // The tool model calls tool `t` only when the config has it; without, it echoes.
  const config = { model: all.model };
  for (const k of keys) config[k] = all[k];
  return config;
}

// ---------------------------------------------------------------------------------------
// Expectations by kind of position

const R = "reject";
const E = "either";

/**
 * What a hostile value must do at a position of `type`: "reject" (refused with the right
 * code and field) or "either" (refused that way, or accepted and then behaving).
 */
function expectation(pos, label) {
  const t = pos.type;
  const over = pos.over?.[label];
  if (over) return over;
  if (label === "null") return pos.null ?? (t === "number" ? R : E);
  if (LONE.has(label)) return t === "string" || t === "key" ? pos.lone ?? R : R;
  if (label === "huge string") return t === "string" || t === "key" ? pos.huge ?? R : R;
  if (label === "Infinity") return t === "number" ? pos.inf ?? R : R;
  if (label === "-0") return t === "number" ? pos.zero ?? R : R;
  if (label === "function") return t === "function" ? E : R;
  if (t === "function") {
    // A Proxy or revoked Proxy of the base function is still a function (typeof).
    return PROXIES.has(label) ? E : R;
  }
  if (t === "number" || t === "string" || t === "boolean" || t === "key") return R;
  // Object-like positions.
  if (BENIGN.has(label)) return E;
  if (label === "array") return t === "limitset" || t === "array" ? E : R;
  if (label === "deep object") return t === "json" ? E : R;
  if (label === "deep array") return t === "json" ? E : R;
  if (label === "cycle") return t === "adapter" ? E : R;
  // Arrays are read by index and adapters by method name: neither needs Object.keys.
  if (ENUM_THROWS.has(label)) return t === "array" || t === "adapter" ? E : R;
  return R;
}

// ---------------------------------------------------------------------------------------
// new Agent(config): every option and nested option

const N = (path, o) => ({ path, type: "number", ...o });
const S = (path, o) => ({ path, type: "string", ...o });
const O = (path, o) => ({ path, type: "object", ...o });
const F = (path, o) => ({ path, type: "function", probe: "run", ...o });
const B = (path, o) => ({ path, type: "boolean", ...o });
const A = (path, o) => ({ path, type: "array", ...o });
const J = (path, o) => ({ path, type: "json", ...o });

const METRICS = ["maxInputTokens", "maxOutputTokens", "maxTotalTokens", "maxCostUsd", "maxRequests"];

function limitPositions(base, prep) {
  return [
    { path: base, type: "limitset", probe: "limits", prep },
    ...METRICS.map((m) => N(`${base}.${m}`, { zero: E, inf: E, probe: "limit", prep })),
    S(`${base}.window`, { prep }),
  ];
}

const twoWindows = (cap) => [
  { maxTotalTokens: cap, maxRequests: 1000, window: "day" },
  { maxTotalTokens: cap, maxRequests: 1000, window: "hour" },
];

export const CONFIG_POSITIONS = [
  O("", { noField: true, null: R }),
  S("name", { lone: E, huge: E }),
  S("instructions", { lone: E, huge: E }),
  F("model", { null: R }),
  S("modelName", { null: R }),
  B("requireUser", { null: R }),
  O("memory"),
  N("memory.maxMessagesPerSession", { zero: E }),
  N("memory.maxContextTokens"),
  N("memory.maxSessionsPerUser"),
  N("memory.maxUsers"),
  N("memory.idleTtlMs", { inf: E }),
  O("memory.recall"),
  N("memory.recall.topK", { zero: E }),
  { path: "memory.storage", type: "adapter", probe: "run" },
  ...["get", "put", "delete", "list"].map((m) => F(`memory.storage.${m}`, { null: R, prep: (s) => (s.memory.storage = { ...s.memory.storage }) })),
  F("memory.clock"),
  A("memory.tools"),
  ...(() => {
    const prep = (s) => (s.memory.compaction = { triggerTokens: 100_000, keepTurns: 2, instructions: "Summarise." });
    return [
      O("memory.compaction", { prep }),
      N("memory.compaction.triggerTokens", { prep }),
      N("memory.compaction.keepTurns", { zero: E, prep }),
      S("memory.compaction.instructions", { lone: E, huge: E, prep }),
    ];
  })(),
  ...(() => {
    const prep = (s) => (s.memory.facts = { extract: true, instructions: "Extract." });
    return [O("memory.facts", { prep }), B("memory.facts.extract", { prep }), S("memory.facts.instructions", { lone: E, huge: E, prep })];
  })(),
  S("memory.tools.0", { lone: E }),
  N("maxOutputTokens"),
  O("budget"),
  ...limitPositions("budget.perUser"),
  ...limitPositions("budget.global"),
  O("budget.plans"),
  ...limitPositions("budget.plans.pro"),
  N("budget.perUser.1.maxTotalTokens", { zero: E, inf: E, prep: (s) => (s.budget.perUser = twoWindows(100_000)) }),
  N("budget.plans.pro.1.maxRequests", { zero: E, inf: E, prep: (s) => (s.budget.plans.pro = twoWindows(200_000)) }),
  N("budget.perUser.window.ms", { inf: E, prep: (s) => (s.budget.perUser.window = { ms: 60_000 }), fieldAlts: ["budget.perUser.window"] }),
  O("budget.prices"),
  O("budget.prices.m"),
  N("budget.prices.m.inputPerMTok", { zero: E, inf: E }),
  N("budget.prices.m.outputPerMTok", { zero: E, inf: E }),
  F("budget.planOf"),
  B("budget.defaultPrices"),
  // Budgets per org: the same checks as perUser's, reported by orgUsage.
  ...limitPositions("budget.perOrg"),
  O("budget.orgPlans"),
  ...limitPositions("budget.orgPlans.big"),
  F("budget.orgPlanOf"),
  O("rateLimit"),
  O("rateLimit.perUser"),
  N("rateLimit.perUser.requests", { zero: E, inf: E }),
  N("rateLimit.perUser.perMs", { zero: E, inf: E }),
  N("rateLimit.perUser.burst", { zero: E, inf: E }),
  O("rateLimit.perOrg"),
  N("rateLimit.perOrg.requests", { zero: E, inf: E }),
  N("rateLimit.perOrg.perMs", { zero: E, inf: E }),
  N("rateLimit.perOrg.burst", { zero: E, inf: E }),
  // An empty tools list makes `permissions` (which names tool `t`) the bad option.
  A("tools", { fieldAlts: ["permissions"] }),
  O("tools.0"),
  S("tools.0.name", { null: R }),
  S("tools.0.description", { lone: E, huge: E }),
  J("tools.0.parameters"),
  F("tools.0.execute", { null: R }),
  O("permissions"),
  S("permissions.default"),
  O("permissions.users"),
  O("permissions.users.bob"),
  A("permissions.users.bob.allow"),
  A("permissions.users.bob.deny"),
  A("permissions.users.bob.requireApproval"),
  A("permissions.requireApproval"),
  F("policy"),
  F("approve"),
  N("maxSteps"),
  N("approvalTimeoutMs", { inf: E }),
  O("audit"),
  { path: "audit.key", type: "key", lone: E, huge: E, null: R },
  F("audit.sink"),
  N("audit.ringSize", { zero: E }),
  B("audit.includeContent"),
  J("audit.resumeFrom", { noControl: true }),
  F("onEvent"),
  A("mcp"),
  O("mcp.0"),
  S("mcp.0.name", { null: R }),
  S("mcp.0.url", { null: R }),
  F("mcp.0.headers"),
  N("mcp.0.timeoutMs"),
  N("mcp.0.cacheTtlMs", { zero: E, inf: E }),
];

/** After a hostile value was accepted: is the agent still doing what its config says? */
async function probeAccepted(h, T, agent, pos, label) {
  if (pos.probe === "run") {
    const r = await expectAsync(h, T, () => agent.run("probe", "p"), { mode: E, what: "a run with the accepted value" });
    return r.ok ? null : r;
  }
  const scope = pos.path.startsWith("budget.global") ? "global" : pos.path.startsWith("budget.plans") ? "plan" : pos.path.startsWith("budget.perOrg") ? "org" : pos.path.startsWith("budget.orgPlans") ? "orgPlan" : "user";
  const user = scope === "plan" ? "p-pro" : "p";
  const org = scope === "orgPlan" ? { orgId: "o-big" } : scope === "org" ? { orgId: "o" } : undefined;
  const report = scope === "global" ? agent.globalUsage() : org ? agent.orgUsage(org.orgId) : agent.usage(user);
  if (pos.probe === "limits" && BENIGN.has(label)) {
    const want = { global: 1_000_000, plan: 200_000, org: 300_000, orgPlan: 400_000 }[scope] ?? 100_000;
    if (!report.limits.some((l) => l.limit === want)) {
      return fail("accepted", `accepted, but no limit of ${want} is in force: ${summary(report.limits)}`);
    }
  }
  if (pos.probe === "limit" && label === "-0") {
    // A cap of zero refuses every run; accepted as "no cap" it would not.
    const r = await expectAsync(h, T, () => agent.run("probe", user, org), { codes: ["budget_exceeded"], what: "a run under a cap of -0" });
    if (!r.ok) return fail("accepted", `-0 was accepted but is not a cap of 0: ${r.detail}`);
  }
  return null;
}

function configCases(T) {
  const cases = [];
  for (const pos of CONFIG_POSITIONS) {
    const field = pos.noField ? undefined : pos.path;
    const build = (make) => {
      const config = pos.path === "" ? { model: toolModel } : configFor(T, pos.path, pos.prep);
      const base = pos.path === "" ? config : getPath(config, pos.path);
      const value = make(base);
      if (pos.path === "") return value;
      setPath(config, pos.path, value);
      return config;
    };
    if (!pos.noControl) {
      cases.push({
        name: `config control: ${pos.path || "(root)"} valid`,
        group: "config",
        run: async () => {
          const r = expectSync(T, () => new T.Agent(build((b) => b)), { mode: E, what: "new Agent" });
          if (!r.ok || r.threw) return fail("control", `the valid value was refused: ${r.threw ? describeError(r.threw) : r.detail}`);
          return pass();
        },
      });
    }
    for (const [label, make] of HOSTILE) {
      const mode = expectation(pos, label);
      cases.push({
        name: `new Agent: ${pos.path || "(root config)"} = ${label}`,
        group: "config",
        run: async (h) => {
          const config = build(make);
          const r = expectSync(T, () => new T.Agent(config), { mode, codes: ["invalid_config"], field, fieldAlts: pos.fieldAlts, what: "new Agent" });
          if (!r.ok || r.threw || !pos.probe) return r;
          return (await probeAccepted(h, T, r.value, pos, label)) ?? pass();
        },
      });
    }
  }
  // `undefined` is absent, for every optional key at once.
  cases.push({
    name: "config control: undefined for every optional key counts as absent",
    group: "config",
    run: async (h) => {
      const config = { model: () => ({ text: "ok", usage: { inputTokens: 1000, outputTokens: 1000 } }) };
      for (const k of ["name", "instructions", "modelName", "requireUser", "memory", "maxOutputTokens", "budget", "rateLimit", "tools", "permissions", "policy", "approve", "maxSteps", "approvalTimeoutMs", "audit", "onEvent", "mcp"]) config[k] = undefined;
      let agent;
      try {
        agent = new T.Agent(config);
        agent = new T.Agent({ model: config.model, budget: { perUser: { maxTotalTokens: undefined, window: undefined } }, memory: { maxUsers: undefined, recall: { topK: undefined } } });
      } catch (e) {
        return fail("control", `refused: ${describeError(e)}`);
      }
      for (let i = 0; i < 3; i++) {
        const r = await expectAsync(h, T, () => agent.run("hi", "u"), { mode: E, what: "run" });
        if (!r.ok || r.o.kind !== "resolved") return fail("control", `an absent cap refused run ${i}: ${r.detail || describeError(r.o.error)}`);
      }
      return pass();
    },
  });
  // Agent.restore is async: a bad config rejects, it never throws.
  for (const [label, make] of HOSTILE) {
    const mode = expectation(CONFIG_POSITIONS[0], label);
    cases.push({
      name: `Agent.restore: config = ${label}`,
      group: "restore",
      run: async (h) => {
        const snap = new T.Agent({ model: echo }).snapshot();
        const r = await expectAsync(h, T, () => T.Agent.restore(make({ model: echo }), snap), { mode, codes: ["invalid_config"], what: "Agent.restore" });
        return r;
      },
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// run() and stream() arguments

const RUN_POSITIONS = [
  { arg: "input", type: "string", lone: E, null: R, codes: ["invalid_input"] },
  // One part of an input given as parts: read like an options object, so a part with its
  // keys readable is accepted and anything else refused.
  { arg: "input[0]", type: "object", null: R, codes: ["invalid_input"] },
  { arg: "userId", type: "id", codes: ["invalid_user_id"] },
  { arg: "options", type: "object", codes: ["invalid_input", "invalid_session_id"] },
  { arg: "options.sessionId", type: "id", codes: ["invalid_session_id"] },
  { arg: "options.orgId", type: "id", codes: ["invalid_org_id"] },
  { arg: "options.signal", type: "object", codes: ["invalid_input"], over: { "Proxy ownKeys throws": E, "Proxy getOwnPropertyDescriptor throws": E } },
  // The echo model never answers JSON: an accepted output spec ends in output_invalid.
  { arg: "options.output", type: "object", codes: ["invalid_input", "output_invalid"] },
];

/** What a run argument must do; ids refuse every non-string but null. */
function runExpectation(pos, label) {
  if (pos.type === "id") return label === "null" ? E : R;
  return expectation(pos, label);
}

function runArgs(pos, value) {
  const args = ["hostile-input", "bob", { sessionId: "s" }];
  if (pos.arg === "input") args[0] = value;
  else if (pos.arg === "input[0]") args[0] = [value];
  else if (pos.arg === "userId") args[1] = value;
  else if (pos.arg === "options") args[2] = value;
  else if (pos.arg === "options.sessionId") args[2] = { sessionId: value };
  else if (pos.arg === "options.output") args[2] = { sessionId: "s", output: value };
  else if (pos.arg === "options.orgId") args[2] = { sessionId: "s", orgId: value };
  else args[2] = { sessionId: "s", signal: value };
  return args;
}

function runBase(pos) {
  if (pos.arg === "input[0]") return { type: "text", text: "hostile-input" };
  if (pos.arg === "options") return { sessionId: "s" };
  if (pos.arg === "options.signal") return new AbortController().signal;
  if (pos.arg === "options.output") return { schema: { type: "object" } };
  return undefined;
}

/** What a resolved run with a tolerated value must still get right. */
function checkRunResult(pos, label, result) {
  if (pos.arg === "options" && PROXIES.has(label) && result.sessionId !== "s") return fail("accepted", `ran in session ${summary(result.sessionId)}, not "s"`);
  if (pos.arg === "options.sessionId" && result.sessionId !== "default") return fail("accepted", `null sessionId ran in ${summary(result.sessionId)}`);
  if (pos.arg === "userId" && result.userId !== null) return fail("accepted", `null userId ran as ${summary(result.userId)}`);
  if (pos.arg === "options.orgId" && result.orgId !== undefined) return fail("accepted", `null orgId ran in org ${summary(result.orgId)}`);
  return null;
}

async function drainStream(h, s) {
  const events = [];
  let broken = null;
  let it;
  try {
    it = s[Symbol.asyncIterator]();
  } catch (e) {
    return { events, broken: { kind: "threw", error: e } };
  }
  for (;;) {
    const r = await h.wait(it.next());
    if (r.kind !== "resolved") {
      broken = r;
      break;
    }
    if (r.value.done) break;
    events.push(r.value.value);
  }
  return { events, broken, result: broken ? broken : await h.wait(s.result) };
}

/** stream(): no synchronous throw, the events end, `.result` and the `error` event agree. */
async function expectStream(h, T, fn, { mode, codes, what = "stream" }) {
  let s;
  try {
    s = fn();
  } catch (e) {
    return fail("sync-throw", `${what} threw synchronously: ${describeError(e)}`);
  }
  const { events, broken, result } = await drainStream(h, s);
  if (broken) {
    if (broken.kind === "hung") return fail("hang", `${what}: the events did not end within ${h.hangMs} ms`);
    if (broken.kind === "uncaught") return fail("uncaught", `${what}: ${broken.detail}`);
    return fail("not-tenantry-error", `${what}: iterating failed: ${describeError(broken.error)}`);
  }
  if (result.kind === "hung") return fail("hang", `${what}: .result did not settle`);
  if (result.kind === "uncaught") return fail("uncaught", `${what}: ${result.detail}`);
  if (result.kind === "rejected") {
    const bad = checkError(T, result.error, { codes, what: `${what}.result` });
    if (bad) return bad;
    const ev = events.find((e) => e.type === "error");
    if (!ev || ev.code !== result.error.code) return fail("stream-events", `${what}: .result rejected with ${result.error.code} but the events were ${summary(events.map((e) => e.type + (e.code ? ":" + e.code : "")))}`);
    return pass({ o: result, events });
  }
  if (mode === R) return fail("accepted", `${what}: .result resolved (${summary(result.value)}) instead of rejecting with ${codes.join("|")}`);
  if (!events.some((e) => e.type === "finish")) return fail("stream-events", `${what}: resolved without a finish event`);
  return pass({ o: result, events });
}

function runCases(T) {
  const cases = [];
  for (const pos of RUN_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = runExpectation(pos, label);
      cases.push({
        name: `run: ${pos.arg} = ${label}`,
        group: "run-args",
        run: async (h) => {
          const agent = new T.Agent({ model: echo });
          const args = runArgs(pos, make(runBase(pos)));
          const r = await expectAsync(h, T, () => agent.run(...args), { mode, codes: pos.codes, what: "run" });
          if (!r.ok) return r;
          if (r.o.kind === "resolved") {
            const bad = checkRunResult(pos, label, r.o.value);
            if (bad) return bad;
          }
          // A refused run leaves nothing behind and blocks nothing.
          const again = await expectAsync(h, T, () => agent.run("after", "bob", { sessionId: "s" }), { mode: E, what: "the next run of bob" });
          if (!again.ok || again.o.kind !== "resolved") return fail("stuck-session", `bob could not run after: ${again.detail || describeError(again.o.error)}`);
          return pass();
        },
      });
      cases.push({
        name: `stream: ${pos.arg} = ${label}`,
        group: "stream-args",
        run: async (h) => {
          const agent = new T.Agent({ model: echo });
          const args = runArgs(pos, make(runBase(pos)));
          return expectStream(h, T, () => agent.stream(...args), { mode, codes: pos.codes });
        },
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// streamChat(body, userId, options): the body useChat posts, every part of it

const chatMessage = () => ({ id: "m1", role: "user", parts: [{ type: "text", text: "hostile-chat" }] });
const chatBody = () => ({ id: "chat-s", trigger: "submit-message", messages: [chatMessage()] });

const CHAT_POSITIONS = [
  { arg: "body", type: "object", null: R, codes: ["invalid_input"], base: chatBody },
  { arg: "body.id", type: "string", null: R, codes: ["invalid_input"] },
  { arg: "body.trigger", type: "string", null: R, codes: ["invalid_input"] },
  // Absent or null: no edit. `toJSON` is honoured in data (a Date is its text), so one that
  // answers null is null and one that answers undefined leaves the key out.
  { arg: "body.messageId", type: "string", null: E, codes: ["invalid_input"], over: { "toJSON null": E, "toJSON undefined": E } },
  // An empty list names no new message.
  { arg: "body.messages", type: "array", null: R, codes: ["invalid_input"], base: () => [chatMessage()], over: { array: R } },
  { arg: "body.messages.0", type: "object", null: R, codes: ["invalid_input"], base: chatMessage },
  // Past the agent's input limit (1 MiB), a huge text is refused by the run.
  { arg: "body.messages.0.parts.0.text", type: "string", null: R, codes: ["invalid_input"] },
  { arg: "userId", type: "id", codes: ["invalid_user_id"] },
  { arg: "options", type: "object", codes: ["invalid_input"], base: () => ({ signal: new AbortController().signal }) },
  { arg: "options.signal", type: "object", codes: ["invalid_input"], base: () => new AbortController().signal, over: { "Proxy ownKeys throws": E, "Proxy getOwnPropertyDescriptor throws": E } },
  { arg: "options.orgId", type: "id", codes: ["invalid_org_id"] },
];

function chatArgs(pos, value) {
  const body = chatBody();
  const args = [body, "bob", undefined];
  if (pos.arg === "body") args[0] = value;
  else if (pos.arg === "userId") args[1] = value;
  else if (pos.arg === "options") args[2] = value;
  else if (pos.arg === "options.signal") args[2] = { signal: value };
  else if (pos.arg === "options.orgId") args[2] = { orgId: value };
  else if (pos.arg === "body.messages") body.messages = value;
  else if (pos.arg === "body.messages.0") body.messages[0] = value;
  else if (pos.arg === "body.messages.0.parts.0.text") body.messages[0].parts[0].text = value;
  else body[pos.arg.slice("body.".length)] = value;
  return args;
}

function chatCases(T) {
  const cases = [];
  for (const pos of CHAT_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.type === "id" ? runExpectation(pos, label) : expectation(pos, label);
      cases.push({
        name: `streamChat: ${pos.arg} = ${label}`,
        group: "chat-args",
        run: async (h) => {
          const agent = new T.Agent({ model: echo });
          const r = await expectStream(h, T, () => agent.streamChat(...chatArgs(pos, make(pos.base?.()))), { mode, codes: pos.codes, what: "streamChat" });
          if (!r.ok) return r;
          if (r.o.kind === "resolved") {
            const out = r.o.value;
            const user = pos.arg === "userId" ? null : "bob";
            if (out.sessionId !== "chat-s" || out.userId !== user || out.text !== "echo: hostile-chat") return fail("accepted", `ran ${summary(out)}`);
          } else if (agent.sessions("bob").length !== 0) {
            return fail("kept", `a refused chat left sessions: ${summary(agent.sessions("bob"))}`);
          }
          // A refused chat blocks nothing.
          const again = await expectStream(h, T, () => agent.streamChat(chatBody(), "bob"), { mode: E, codes: [], what: "bob's next chat" });
          if (!again.ok || again.o.kind !== "resolved") return fail("stuck-session", `bob could not chat after: ${again.detail || describeError(again.o.error)}`);
          return pass();
        },
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// Every method that takes a user id, and every other argument of the agent's methods

const SYNC_ID_METHODS = {
  history: (a, u) => a.history(u, "s"),
  sessions: (a, u) => a.sessions(u),
  size: (a, u) => a.size(u),
  blocks: (a, u) => a.blocks(u),
  properties: (a, u) => a.properties(u),
  recall: (a, u) => a.recall(u, "secret"),
  usage: (a, u) => a.usage(u),
  auditLog: (a, u) => a.auditLog(u),
};
const ASYNC_ID_METHODS = {
  load: (a, u) => a.load(u),
  setBlock: (a, u) => a.setBlock(u, "label", "text"),
  deleteBlock: (a, u) => a.deleteBlock(u, "label"),
  setProperty: (a, u) => a.setProperty(u, "k", 1),
  forget: (a, u) => a.forget(u),
  clear: (a, u) => a.clear(u),
  export: (a, u) => a.export(u),
  remember: (a, u) => a.remember(u, { subject: "s", predicate: "p", object: "o" }),
  facts: (a, u) => a.facts(u),
  forgetFact: (a, u) => a.forgetFact(u, "s", "p"),
};

const auditAgent = (T, extra) => new T.Agent({ model: echo, audit: { key: AUDIT_KEY }, ...extra });

function idCases(T) {
  const cases = [];
  for (const [label, make] of HOSTILE) {
    const mode = label === "null" ? E : R;
    for (const [m, call] of Object.entries(SYNC_ID_METHODS)) {
      cases.push({
        name: `${m}(userId = ${label})`,
        group: "user-ids",
        run: async () => expectSync(T, () => call(auditAgent(T), make(undefined)), { mode, codes: ["invalid_user_id"], what: m }),
      });
    }
    for (const [m, call] of Object.entries(ASYNC_ID_METHODS)) {
      cases.push({
        name: `${m}(userId = ${label})`,
        group: "user-ids",
        run: async (h) => expectAsync(h, T, () => call(auditAgent(T), make(undefined)), { mode, codes: ["invalid_user_id"], what: m }),
      });
    }
  }
  return cases;
}

/** Other arguments: [name, type options, codes, call(agent, value), sync, base]. */
const METHOD_ARGS = [
  { name: "history(userId, sessionId)", type: "id", codes: ["invalid_session_id"], sync: true, call: (a, v) => a.history("bob", v) },
  { name: "recall(userId, query)", type: "string", lone: E, huge: E, codes: ["invalid_input"], sync: true, call: (a, v) => a.recall("bob", v) },
  { name: "recall(userId, query, options)", type: "object", codes: ["invalid_input"], sync: true, base: () => ({ limit: 3 }), call: (a, v) => a.recall("bob", "q", v) },
  { name: "recall(userId, query, { limit })", type: "number", null: E, codes: ["invalid_input"], sync: true, call: (a, v) => a.recall("bob", "q", { limit: v }) },
  { name: "setBlock(userId, label)", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.setBlock("bob", v, "text") },
  { name: "setBlock(userId, label, text)", type: "string", lone: E, codes: ["invalid_input"], call: (a, v) => a.setBlock("bob", "label", v) },
  { name: "deleteBlock(userId, label)", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.deleteBlock("bob", v) },
  { name: "setProperty(userId, key)", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.setProperty("bob", v, 1) },
  { name: "remember(userId, fact)", type: "object", codes: ["invalid_input"], base: () => ({ subject: "s", predicate: "p", object: "o" }), call: (a, v) => a.remember("bob", v) },
  { name: "remember(userId, { subject })", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.remember("bob", { subject: v, predicate: "p", object: "o" }) },
  { name: "remember(userId, { object })", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.remember("bob", { subject: "s", predicate: "p", object: v }) },
  { name: "remember(userId, { validFrom })", type: "number", null: E, zero: E, codes: ["invalid_input"], call: (a, v) => a.remember("bob", { subject: "s", predicate: "p", object: "o", validFrom: v }) },
  { name: "facts(userId, query)", type: "object", codes: ["invalid_input"], base: () => ({ subject: "s" }), call: (a, v) => a.facts("bob", v) },
  { name: "facts(userId, { knownAt })", type: "number", null: E, zero: E, codes: ["invalid_input"], call: (a, v) => a.facts("bob", { knownAt: v }) },
  { name: "forgetFact(userId, subject)", type: "string", lone: E, huge: E, codes: ["invalid_input"], call: (a, v) => a.forgetFact("bob", v, "p") },
  { name: "setProperty(userId, key, value)", type: "value", codes: ["invalid_input"], base: () => ({ a: 1 }), call: (a, v) => a.setProperty("bob", "k", v) },
  // The org of a per-user call: a last options object, or beside the method's own options.
  { name: "size(userId, options)", type: "object", codes: ["invalid_input", "invalid_org_id"], sync: true, base: () => ({ orgId: "acme" }), call: (a, v) => a.size("bob", v) },
  { name: "size(userId, { orgId })", type: "id", codes: ["invalid_org_id"], sync: true, call: (a, v) => a.size("bob", { orgId: v }) },
  { name: "history(userId, sessionId, { orgId })", type: "id", codes: ["invalid_org_id"], sync: true, call: (a, v) => a.history("bob", undefined, { orgId: v }) },
  { name: "recall(userId, query, { orgId })", type: "id", codes: ["invalid_org_id"], sync: true, call: (a, v) => a.recall("bob", "q", { orgId: v }) },
  { name: "usage(userId, { orgId })", type: "id", codes: ["invalid_org_id"], sync: true, call: (a, v) => a.usage("bob", { orgId: v }) },
  { name: "forget(userId, options)", type: "object", codes: ["invalid_input", "invalid_org_id"], base: () => ({ orgId: "acme" }), call: (a, v) => a.forget("bob", v) },
  { name: "export(userId, { orgId })", type: "id", codes: ["invalid_org_id"], call: (a, v) => a.export("bob", { orgId: v }) },
  { name: "search(userId, query, { orgId })", type: "id", codes: ["invalid_org_id"], call: (a, v) => a.search("bob", "q", { orgId: v }) },
  { name: "facts(userId, { orgId })", type: "id", codes: ["invalid_org_id"], call: (a, v) => a.facts("bob", { orgId: v }) },
  { name: "setBlock(userId, label, text, { orgId })", type: "id", codes: ["invalid_org_id"], call: (a, v) => a.setBlock("bob", "l", "t", { orgId: v }) },
  // A whole-org call names its org: null is refused like every other non-string.
  { name: "forgetOrg(orgId)", type: "string", null: R, lone: R, huge: R, codes: ["invalid_org_id"], call: (a, v) => a.forgetOrg(v) },
  { name: "exportOrg(orgId)", type: "string", null: R, lone: R, huge: R, codes: ["invalid_org_id"], call: (a, v) => a.exportOrg(v) },
  { name: "setOrgBlock(orgId)", type: "string", null: R, lone: R, huge: R, codes: ["invalid_org_id"], call: (a, v) => a.setOrgBlock(v, "l", "t") },
  { name: "setOrgBlock(orgId, label, text)", type: "string", lone: E, codes: ["invalid_input"], call: (a, v) => a.setOrgBlock("acme", "l", v) },
  { name: "orgBlocks(orgId)", type: "string", null: R, lone: R, huge: R, codes: ["invalid_org_id"], call: (a, v) => a.orgBlocks(v) },
];

/** A property value must be JSON: what JSON.stringify would silently turn into null or drop is refused. */
function valueExpectation(label) {
  if (["NaN", "Infinity", "-Infinity", "function", "Symbol", "BigInt", "toJSON undefined", "toJSON throws", "cycle", ...UNREADABLE, ...ENUM_THROWS].includes(label)) return R;
  return E;
}

function methodArgCases(T) {
  const cases = [];
  for (const pos of METHOD_ARGS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.type === "value" ? valueExpectation(label) : pos.type === "id" ? (label === "null" ? E : R) : expectation(pos, label);
      cases.push({
        name: `${pos.name} = ${label}`,
        group: "method-args",
        run: async (h) => {
          const agent = new T.Agent({ model: echo });
          const value = make(pos.base?.());
          if (pos.sync) return expectSync(T, () => pos.call(agent, value), { mode, codes: pos.codes, what: pos.name });
          const r = await expectAsync(h, T, () => pos.call(agent, value), { mode, codes: pos.codes, what: pos.name });
          if (r.ok && r.o.kind === "resolved" && pos.type === "value" && !["null", "toJSON null"].includes(label)) {
            const props = agent.properties("bob");
            if (!Object.prototype.hasOwnProperty.call(props, "k")) return fail("accepted", `setProperty resolved but stored nothing (a silent delete): ${summary(props)}`);
          }
          return r;
        },
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// import / restore / verifyAudit

async function exportedDoc(T) {
  const agent = new T.Agent({ model: echo });
  await agent.run("hello", "bob", { sessionId: "s" });
  await agent.setProperty("bob", "plan", "pro");
  return agent.export("bob");
}

const IMPORT_POSITIONS = [
  O("", { null: R, codes: ["invalid_import"] }),
  { path: "userId", type: "id", codes: ["invalid_import", "invalid_user_id"] },
  S("format", { null: R, codes: ["invalid_import"] }),
  N("version", { codes: ["invalid_import"] }),
  A("sessions", { codes: ["invalid_import"] }),
  // A toJSON answering null or undefined reads as an absent or null `properties`, as JSON would.
  O("properties", { codes: ["invalid_import"], over: { "deep object": E, cycle: R, "toJSON null": E, "toJSON undefined": E } }),
  S("sessions.0.id", { null: R, codes: ["invalid_import", "invalid_session_id"] }),
  S("sessions.0.turns.0.messages.0.content", { lone: E, huge: E, codes: ["invalid_import"] }),
];

function importCases(T) {
  const cases = [];
  for (const pos of IMPORT_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.type === "id" ? (label === "null" ? E : R) : expectation(pos, label);
      cases.push({
        name: `import: doc${pos.path ? "." + pos.path : ""} = ${label}`,
        group: "import",
        run: async (h) => {
          const doc = await exportedDoc(T);
          const value = make(pos.path ? getPath(doc, pos.path) : doc);
          const input = pos.path ? (setPath(doc, pos.path, value), doc) : value;
          const agent = new T.Agent({ model: echo });
          await agent.run("keep me", "bob", { sessionId: "keep" });
          const r = await expectAsync(h, T, () => agent.import(input), { mode, codes: pos.codes, what: "import" });
          if (!r.ok) return r;
          if (r.o.kind === "rejected" && agent.size("bob") !== 2) return fail("partial-import", `a refused import changed bob: size ${agent.size("bob")}`);
          return r;
        },
      });
    }
  }
  for (const [label, make] of HOSTILE) {
    cases.push({
      name: `Agent.restore: snapshot = ${label}`,
      group: "restore",
      run: async (h) => {
        const source = new T.Agent({ model: echo });
        await source.run("hello", "bob");
        const snap = source.snapshot();
        const mode = expectation({ type: "object", null: R }, label);
        return expectAsync(h, T, () => T.Agent.restore({ model: echo }, make(snap)), { mode, codes: ["invalid_import"], what: "Agent.restore" });
      },
    });
  }
  return cases;
}

async function auditEntries(T, key = AUDIT_KEY) {
  const agent = new T.Agent({ model: echo, audit: { key } });
  await agent.run("hello", "alice");
  return agent.auditEntries();
}

/** verifyAudit is synchronous: a TenantryError throw, or a report; never ok for bad input. */
function expectVerify(T, fn, mode) {
  let report;
  try {
    report = fn();
  } catch (e) {
    return checkError(T, e, { what: "verifyAudit" }) ?? pass();
  }
  if (report === null || typeof report !== "object" || typeof report.ok !== "boolean") return fail("bad-result", `verifyAudit returned ${summary(report)}`);
  if (mode === R && report.ok) return fail("accepted", `verifyAudit reported ok for unreadable input: ${summary(report)}`);
  return pass();
}

/** `tool(definition)` is synchronous: the definition back unchanged, or an invalid_config throw. */
function toolDefinitionCases(T) {
  const cases = [];
  const good = () => ({ name: "lookup", description: "d", parameters: { type: "object" }, execute: () => "ok" });
  for (const [label, make] of HOSTILE) {
    for (const at of ["definition", "name", "parameters", "execute"]) {
      cases.push({
        name: `tool(): ${at} = ${label}`,
        group: "tool-definition",
        run: async () => {
          let def;
          if (at === "definition") def = make(good());
          else {
            def = good();
            def[at] = make(def[at]);
          }
          let back;
          try {
            back = T.tool(def);
          } catch (e) {
            return checkError(T, e, { codes: ["invalid_config"], what: "tool()" }) ?? pass();
          }
          if (back !== def) return fail("bad-result", `tool() returned ${summary(back)}, not its argument`);
          return pass();
        },
      });
    }
  }
  return cases;
}

function verifyCases(T) {
  const cases = [];
  for (const [label, make] of HOSTILE) {
    cases.push({
      name: `verifyAudit: entries = ${label}`,
      group: "verify-audit",
      run: async () => {
        const entries = await auditEntries(T);
        // An array is read by index: a Proxy that only refuses enumeration can still be read.
        const mode = label === "array" || BENIGN.has(label) || ENUM_THROWS.has(label) ? E : R;
        return expectVerify(T, () => T.verifyAudit(make(entries), AUDIT_KEY), mode);
      },
    });
    cases.push({
      name: `verifyAudit: entries[1] = ${label}`,
      group: "verify-audit",
      run: async () => {
        const entries = await auditEntries(T);
        entries[1] = make(entries[1]);
        return expectVerify(T, () => T.verifyAudit(entries, AUDIT_KEY), BENIGN.has(label) ? E : R);
      },
    });
    cases.push({
      name: `verifyAudit: key = ${label}`,
      group: "verify-audit",
      run: async () => {
        const entries = await auditEntries(T);
        const mode = LONE.has(label) || label === "huge string" ? E : R;
        return expectVerify(T, () => T.verifyAudit(entries, make(AUDIT_KEY)), mode);
      },
    });
  }
  cases.push({
    name: "audit keys with a lone surrogate are refused, never the same key as their U+FFFD spelling",
    group: "verify-audit",
    run: async () => {
      const lone = "\ud800" + AUDIT_KEY;
      const replaced = "\ufffd" + AUDIT_KEY;
      let entries;
      try {
        entries = await auditEntries(T, replaced);
      } catch (e) {
        return fail("control", `an agent with a U+FFFD key: ${describeError(e)}`);
      }
      let report;
      try {
        report = T.verifyAudit(entries, lone);
      } catch (e) {
        return checkError(T, e, { what: "verifyAudit with a lone-surrogate key" }) ?? pass();
      }
      if (report.ok) return fail("merged-key", "a log MACed with key \"\\ufffd...\" verifies with key \"\\ud800...\": two keys are one");
      return pass();
    },
  });
  return cases;
}

// ---------------------------------------------------------------------------------------
// Host answers: model functions, tools, storage, sinks. Each hostile answer goes to bob
// while alice runs on the same agent at the same time; afterwards bob's session must run.

/**
 * `makeConfig(state)`: state.hostile is true until healed. `bobCall(agent)` returns the run
 * (or stream) under test. Checks alice's concurrent run, and bob's next run once healed.
 */
async function twoTenants(h, T, { state = { hostile: true, hits: 0 }, makeConfig, mode = E, codes, bobCall, aliceText, aliceMessages = 2, stream = false, check, inspect }) {
  let agent;
  try {
    agent = new T.Agent(makeConfig(state));
  } catch (e) {
    return fail("control", `the agent did not start: ${describeError(e)}`);
  }
  const alice = agent.run("alice-ping", "alice", { sessionId: "s" });
  const call = bobCall ?? ((a) => (stream ? a.stream("bob-ping", "bob", { sessionId: "s" }) : a.run("bob-ping", "bob", { sessionId: "s" })));
  const r = stream ? await expectStream(h, T, () => call(agent), { mode, codes }) : await expectAsync(h, T, () => call(agent), { mode, codes, what: "bob's run" });
  const a = await h.wait(alice);
  const out = [];
  if (!r.ok) out.push(r);
  if (a.kind === "uncaught") out.push(fail("uncaught", `during alice's run: ${a.detail}`));
  else if (a.kind === "hung") out.push(fail("cross-tenant", "alice's concurrent run did not settle"));
  else if (a.kind !== "resolved") out.push(fail("cross-tenant", `alice's concurrent run failed: ${describeError(a.error)}`));
  else {
    const want = aliceText ?? "echo: alice-ping";
    if (a.value.text !== want) out.push(fail("cross-tenant", `alice got ${summary(a.value.text)}, expected ${summary(want)}`));
    try {
      const hist = agent.history("alice", "s");
      if (hist.length !== aliceMessages || hist.some((m) => String(m.content).includes("bob"))) out.push(fail("cross-tenant", `alice's history: ${summary(hist)}`));
    } catch (e) {
      out.push(fail("cross-tenant", `alice's history threw: ${describeError(e)}`));
    }
  }
  if (r.ok && r.o?.kind === "resolved" && check) {
    const bad = check(r.o.value, agent, state);
    if (bad) out.push(bad);
  }
  if (inspect) {
    const bad = inspect(r.o);
    if (bad) out.push(bad);
  }
  if (out.some((x) => causeOf(x.detail) === "uncaught")) return all(out);
  state.hostile = false;
  const again = await h.wait(agent.run("bob-again", "bob", { sessionId: "s" }));
  if (again.kind === "uncaught") out.push(fail("uncaught", `bob's next run: ${again.detail}`));
  else if (again.kind === "hung") out.push(fail("stuck-session", "bob's next run in the same session did not settle: the session is still locked"));
  else if (again.kind !== "resolved") out.push(fail("stuck-session", `bob's next run in the same session failed: ${describeError(again.error)}`));
  return all(out);
}

/** A resolved run's figures must be exact, whatever the model claimed. */
function checkUsage(result, agent) {
  const u = result.usage;
  const nat = (x) => Number.isSafeInteger(x) && x >= 0;
  if (!nat(u.inputTokens) || !nat(u.outputTokens) || u.totalTokens !== u.inputTokens + u.outputTokens || !Number.isFinite(u.costUsd)) {
    return fail("bad-result", `usage ${summary(u)}`);
  }
  if (!FINISH_REASONS.includes(result.finishReason)) return fail("bad-result", `finishReason ${summary(result.finishReason)}`);
  if (typeof result.text !== "string") return fail("bad-result", `text ${summary(result.text)}`);
  const totals = agent.usage("bob").totals;
  if (!Object.values(totals).every((x) => Number.isFinite(x) && x >= 0)) return fail("bad-result", `usage("bob").totals ${summary(totals)}`);
  return null;
}

const PLAIN_ANSWER = () => ({ text: "ok", usage: { inputTokens: 3, outputTokens: 2 }, finishReason: "stop" });
const TOOL_ANSWER = () => ({ text: "", toolCalls: [{ id: "c1", name: "t", arguments: { q: 1 } }], usage: { inputTokens: 3, outputTokens: 2 } });

const ANSWER_POSITIONS = [
  { path: "", base: PLAIN_ANSWER, rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
  { path: "text", base: PLAIN_ANSWER, rule: (l) => (LONE.has(l) || ["huge string", "null", "toJSON null", "toJSON undefined"].includes(l) ? E : R) },
  { path: "usage", base: PLAIN_ANSWER, rule: (l) => (UNREADABLE.has(l) ? R : E) },
  { path: "usage.inputTokens", base: PLAIN_ANSWER, rule: () => E },
  { path: "usage.outputTokens", base: PLAIN_ANSWER, rule: () => E },
  { path: "finishReason", base: PLAIN_ANSWER, rule: () => E },
  { path: "toolCalls", base: TOOL_ANSWER, rule: (l) => (UNREADABLE.has(l) || (!["null", "array", "cycle", "deep array", "toJSON null", "toJSON undefined"].includes(l) && !BENIGN.has(l) && !ENUM_THROWS.has(l)) ? R : E) },
  { path: "toolCalls.0", base: TOOL_ANSWER, rule: () => E },
  { path: "toolCalls.0.name", base: TOOL_ANSWER, rule: () => E },
  { path: "toolCalls.0.arguments", base: TOOL_ANSWER, rule: () => E },
  { path: "toolCalls.0.id", base: TOOL_ANSWER, rule: () => E },
];

/** Echo, except after a tool call: then what the tool said. */
function answerNormally(req) {
  const last = lastOf(req);
  if (last.role === "tool") return { text: `tool said: ${String(last.content).slice(0, 60)}`, usage: ECHO_USAGE };
  return echo(req);
}

/** A model that answers bob with `hostile(req)` while state.hostile, everyone else normally. */
function hostileModel(state, hostile) {
  return (req) => {
    if (state.hostile && req.userId === "bob" && lastOf(req).role === "user") {
      state.hits++;
      return hostile(req);
    }
    return answerNormally(req);
  };
}

const MODEL_CODES = ["model_malformed", "model_error", "unsupported"];

function modelCases(T) {
  const cases = [];
  const toolConfig = (model) => ({ model, tools: [TOOL()], budget: { perUser: { maxTotalTokens: 1_000_000 } }, onEvent: () => {} });
  for (const pos of ANSWER_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.rule(label);
      for (const stream of [false, true]) {
        cases.push({
          name: `model answer${stream ? " (stream)" : ""}: ${pos.path || "(the answer)"} = ${label}`,
          group: "model-answers",
          run: (h) =>
            twoTenants(h, T, {
              stream,
              mode,
              codes: MODEL_CODES,
              makeConfig: (state) =>
                toolConfig(
                  hostileModel(state, () => {
                    const answer = pos.base();
                    if (pos.path === "") return make(answer);
                    setPath(answer, pos.path, make(getPath(answer, pos.path)));
                    return answer;
                  }),
                ),
              check: (result, agent) => (stream ? null : checkUsage(result, agent)),
            }),
        });
      }
    }
  }
  // Promises and thenables that fight back.
  const THENABLES = [
    ["a promise whose constructor getter throws", () => {
      const p = Promise.resolve(PLAIN_ANSWER());
      Object.defineProperty(p, "constructor", { get: () => boom("constructor getter") });
      return p;
    }],
    ["a thenable whose then getter throws", () => ({ get then() { return boom("then getter"); } })],
    ["a thenable whose then throws", () => ({ then: () => boom("then") })],
    ["a thenable resolving to an answer with a throwing text getter", () => ({ then: (ok) => ok({ get text() { return boom("text getter"); } }) })],
    ["a promise of a Proxy whose every trap throws", () => Promise.resolve(trapProxy(PLAIN_ANSWER(), TRAPS_ALL))],
  ];
  for (const [label, make] of THENABLES) {
    cases.push({
      name: `model returns ${label}`,
      group: "model-answers",
      run: (h) => twoTenants(h, T, { mode: R, codes: MODEL_CODES, makeConfig: (state) => toolConfig(hostileModel(state, make)) }),
    });
  }
  // A model that throws or rejects with anything at all.
  const THROWN = [
    ...HOSTILE,
    ["undefined", () => undefined],
    ["an Error whose message getter throws", () => Object.defineProperty(new Error("x"), "message", { get: () => boom("message getter") })],
    ["a model_http look-alike with a throwing details Proxy", () => ({ code: "model_http", details: trapProxy({}, TRAPS_ALL) })],
    ["a model_http look-alike with hostile details", () => ({ code: "model_http", details: { status: Symbol("s"), kind: 5n, message: trapProxy({}, ["get"]), attempts: NaN } })],
  ];
  for (const [label, make] of THROWN) {
    for (const how of ["throws", "rejects with"]) {
      cases.push({
        name: `model ${how} ${label}`,
        group: "model-throws",
        run: (h) =>
          twoTenants(h, T, {
            mode: R,
            codes: ["model_error", "model_http", "model_malformed", "aborted"],
            makeConfig: (state) =>
              toolConfig(
                hostileModel(state, () => {
                  const v = make({ message: "base" });
                  if (how === "throws") throw v;
                  return Promise.reject(v);
                }),
              ),
          }),
      });
    }
  }
  // onTextDelta with anything, during the call and after it.
  for (const [label, make] of HOSTILE) {
    cases.push({
      name: `model calls onTextDelta(${label}) while streaming`,
      group: "model-answers",
      run: (h) =>
        twoTenants(h, T, {
          stream: true,
          mode: E,
          makeConfig: (state) =>
            toolConfig(
              hostileModel(state, (req) => {
                req.onTextDelta?.(make("text"));
                const late = req.onTextDelta;
                setTimeout(() => {
                  try {
                    late?.(make("late"));
                  } catch {
                    // what a stale sink does is not this case's concern, only that it is not a crash
                  }
                }, 0);
                return PLAIN_ANSWER();
              }),
            ),
        }),
    });
  }
  return cases;
}

function toolCases(T) {
  const cases = [];
  const toolAgent = (state, tool, extra) => ({
    model: toolModel,
    tools: [
      {
        ...TOOL(),
        execute: (args, ctx) => {
          if (state.hostile && ctx.userId === "bob") {
            state.hits++;
            return tool(args, ctx);
          }
          return { ok: true };
        },
      },
    ],
    ...extra,
  });
  const ALICE = { aliceText: 'tool said: {"ok":true}', aliceMessages: 4 };
  for (const [label, make] of HOSTILE) {
    for (const how of ["returns", "resolves to", "throws", "rejects with"]) {
      cases.push({
        name: `tool execute ${how} ${label}`,
        group: "tools",
        run: (h) =>
          twoTenants(h, T, {
            ...ALICE,
            mode: E,
            makeConfig: (state) =>
              toolAgent(state, () => {
                const v = make({ ok: true });
                if (how === "returns") return v;
                if (how === "resolves to") return Promise.resolve().then(() => v);
                if (how === "throws") throw v;
                return Promise.reject(v);
              }),
          }),
      });
    }
    for (const slot of ["key", "value", "ttlMs"]) {
      cases.push({
        name: `tool ctx.cache.set with ${slot} = ${label}`,
        group: "tools",
        run: (h) =>
          twoTenants(h, T, {
            ...ALICE,
            mode: E,
            makeConfig: (state) =>
              toolAgent(state, (args, ctx) => {
                const v = make({ a: 1 });
                const argsFor = { key: [v, { a: 1 }, 1000], value: ["k", v, 1000], ttlMs: ["k", { a: 1 }, v] }[slot];
                let stored;
                try {
                  stored = ctx.cache.set(...argsFor);
                  ctx.cache.get(argsFor[0]);
                  ctx.cache.delete(argsFor[0]);
                } catch (e) {
                  // The cache may refuse; it must not take the run down with it.
                  stored = describeError(e);
                }
                return { stored: String(stored) };
              }),
          }),
      });
    }
    for (const how of ["returns", "throws", "rejects with"]) {
      cases.push({
        name: `policy ${how} ${label}: the call is denied (fails closed)`,
        group: "tools",
        run: async (h) => {
          let executed = false;
          const r = await twoTenants(h, T, {
            ...ALICE,
            mode: E,
            makeConfig: (state) => ({
              ...toolAgent(state, () => {
                executed = true;
                return { ok: "bob executed" };
              }),
              policy: (userId) => {
                if (userId !== "bob" || !state.hostile) return "allow";
                const v = make("allow");
                if (how === "returns") return v;
                if (how === "throws") throw v;
                return Promise.reject(v);
              },
            }),
          });
          return all([r, executed ? fail("fail-open", `policy ${how} ${label} let bob's tool run`) : null]);
        },
      });
    }
    for (const how of ["returns", "throws", "rejects with"]) {
      cases.push({
        name: `approve ${how} ${label}`,
        group: "tools",
        run: async (h) => {
          let executed = false;
          const r = await twoTenants(h, T, {
            ...ALICE,
            mode: E,
            makeConfig: (state) => ({
              ...toolAgent(state, () => {
                executed = true;
                return { ok: "bob executed" };
              }),
              permissions: { users: { bob: { requireApproval: ["t"] } } },
              approve: () => {
                const v = make(true);
                if (how === "returns") return v;
                if (how === "throws") throw v;
                return Promise.reject(v);
              },
            }),
          });
          // A throw or a rejection denies.
          return all([r, executed && how !== "returns" ? fail("fail-open", `approve ${how} ${label} let bob's tool run`) : null]);
        },
      });
    }
  }
  cases.push({
    name: "tool execute returns a promise whose constructor getter throws",
    group: "tools",
    run: (h) =>
      twoTenants(h, T, {
        ...ALICE,
        makeConfig: (state) =>
          toolAgent(state, () => {
            const p = Promise.resolve({ ok: 1 });
            Object.defineProperty(p, "constructor", { get: () => boom("constructor getter") });
            return p;
          }),
      }),
  });
  return cases;
}

const BOB_KEYS = "tenantry/v1/u/bob/";

function storageCases(T) {
  const cases = [];
  const GET_EXTRA = [
    ["not JSON", () => "not json {"],
    ["JSON nested 100,000 levels", () => "[".repeat(DEPTH) + "]".repeat(DEPTH)],
    ["JSON of the wrong shape", () => '{"format":"tenantry.user","version":"x"}'],
    ["JSON with a lone surrogate escape", () => '{"format":"\\ud800"}'],
    ["a huge non-JSON string", () => huge()],
  ];
  const ops = {
    get: { values: [...HOSTILE, ...GET_EXTRA], base: () => null, drive: "run" },
    list: { values: HOSTILE, drive: "forget" },
    put: { values: HOSTILE, drive: "run" },
    delete: { values: HOSTILE, drive: "forget" },
  };
  for (const [op, spec] of Object.entries(ops)) {
    for (const [label, make] of spec.values) {
      for (const how of ["returns", "resolves to", "throws", "rejects with"]) {
        const answers = how === "returns" || how === "resolves to";
        let mode = R;
        if (answers && (op === "put" || op === "delete")) mode = E;
        if (answers && op === "get" && label === "null") mode = E;
        if (answers && op === "list" && (label === "array" || BENIGN.has(label) || ENUM_THROWS.has(label))) mode = E;
        cases.push({
          name: `storage ${op} ${how} ${label}`,
          group: "storage",
          run: async (h) => {
            const store = mapStorage();
            // bob has data in storage that a fresh agent must read.
            const seed = new T.Agent({ model: echo, memory: { storage: store } });
            const seeded = await h.wait(seed.run("seed", "bob", { sessionId: "s" }));
            if (seeded.kind !== "resolved") return fail("control", `seeding failed: ${seeded.detail ?? describeError(seeded.error)}`);
            const state = { hostile: true, hits: 0 };
            const adapter = {};
            for (const m of ["get", "put", "delete", "list"]) {
              adapter[m] = (k, v) => {
                const real = () => store[m](k, v);
                if (m !== op || !state.hostile || !String(k).startsWith(BOB_KEYS)) return real();
                state.hits++;
                const value = make(op === "list" ? real() : op === "get" ? real() : undefined);
                if (how === "returns") return value;
                if (how === "resolves to") return Promise.resolve().then(() => value);
                if (how === "throws") throw value;
                return Promise.reject(value);
              };
            }
            const result = await twoTenants(h, T, {
              state,
              mode,
              codes: ["storage"],
              makeConfig: () => ({ model: echo, memory: { storage: adapter } }),
              bobCall: (agent) => (spec.drive === "forget" ? agent.forget("bob") : agent.run("bob-ping", "bob", { sessionId: "s" })),
            });
            if (result.ok && state.hits === 0) return fail("control", `storage ${op} was never called for bob`);
            return result;
          },
        });
      }
    }
  }
  return cases;
}

function sinkCases(T) {
  const cases = [];
  const SINKS = {
    onEvent: (fn) => ({ onEvent: fn }),
    "audit.sink": (fn) => ({ audit: { key: AUDIT_KEY, sink: fn } }),
    "budget.planOf": (fn) => ({ budget: { perUser: { maxTotalTokens: 1_000_000 }, planOf: fn } }),
    "memory.clock": (fn) => ({ memory: { clock: fn } }),
  };
  const ANSWERS = [...HOSTILE, ["a thenable whose then getter throws", () => ({ get then() { return boom("then getter"); } })]];
  for (const [where, wrap] of Object.entries(SINKS)) {
    for (const [label, make] of ANSWERS) {
      // planOf and the clock are synchronous: a promise they return is never awaited, so
      // one that rejects is the host's own unhandled rejection.
      const hows = where === "onEvent" || where === "audit.sink" ? ["returns", "throws", "rejects with"] : ["returns", "throws"];
      for (const how of hows) {
        cases.push({
          name: `${where} ${how} ${label}`,
          group: "sinks",
          run: (h) =>
            twoTenants(h, T, {
              mode: E,
              makeConfig: (state) => ({
                model: echo,
                ...wrap((arg) => {
                  // Hostile for bob's events only (the clock has no user: hostile throughout).
                  const forBob = where === "memory.clock" || where === "budget.planOf" ? arg === "bob" || where === "memory.clock" : arg?.userId === "bob";
                  if (!state.hostile || !forBob) return where === "memory.clock" ? Date.now() : where === "budget.planOf" ? null : undefined;
                  const v = make({ a: 1 });
                  if (how === "returns") return v;
                  if (how === "throws") throw v;
                  return Promise.reject(v);
                }),
              }),
            }),
        });
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// openai() / anthropic() / demoModel() / memoryStorage() / indexedDbStorage()

const SECRET = "sk-hostile-secret-key";

const okSse = () =>
  new Response(
    [
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "from http" }, finish_reason: null }] })}`,
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 2 } })}`,
      "data: [DONE]",
      "",
    ].join("\n\n"),
    { status: 200, headers: { "content-type": "text/event-stream" } },
  );

const okJson = () =>
  new Response(JSON.stringify({ choices: [{ message: { role: "assistant", content: "from http" }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 2 } }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });

const PROVIDER_POSITIONS = [
  O("", { noField: true }),
  S("model", { lone: E, huge: E, null: E }),
  S("apiKey", { lone: E, huge: E }),
  S("baseUrl", { lone: E, huge: E }),
  O("headers"),
  S("headers.x-a", { lone: E, huge: E, null: R }),
  F("fetch"),
  N("maxRetries", { zero: E }),
  N("timeoutMs", { inf: E }),
  B("stream"),
];

function leaks(e) {
  try {
    return JSON.stringify({ m: e.message, d: e.details }).includes(SECRET);
  } catch {
    return false;
  }
}

function providerBase() {
  return { model: "m", apiKey: SECRET, baseUrl: "http://127.0.0.1:9/v1", headers: { "x-a": "1" }, fetch: async () => okJson(), maxRetries: 0, timeoutMs: 2000, stream: false };
}

function providerCases(T) {
  const cases = [];
  for (const provider of ["openai", "anthropic"]) {
    const positions = provider === "anthropic" ? [...PROVIDER_POSITIONS, S("version", { lone: E, huge: E })] : PROVIDER_POSITIONS;
    for (const pos of positions) {
      for (const [label, make] of HOSTILE) {
        const mode = expectation(pos, label);
        cases.push({
          name: `${provider}(options): ${pos.path || "(options)"} = ${label}`,
          group: "providers",
          run: async (h) => {
            const opts = providerBase();
            if (provider === "anthropic") opts.version = "2023-06-01";
            const value = make(pos.path ? getPath(opts, pos.path) : opts);
            const arg = pos.path ? (setPath(opts, pos.path, value), opts) : value;
            // The provider's fields are its own option names, so a field may also name the
            // option that holds the bad value (e.g. `headers` for a header value).
            const parent = pos.path.split(".")[0];
            const r = expectSync(T, () => T[provider](arg), { mode, codes: ["invalid_config"], field: pos.noField ? undefined : parent, what: `${provider}()` });
            if (!r.ok || r.threw) return r;
            const model = r.value;
            if (typeof model !== "function") return fail("bad-result", `${provider}() returned ${summary(model)}`);
            // Accepted: a run through it settles, and never shows the key.
            const agent = new T.Agent({ model });
            const run = await expectAsync(h, T, () => agent.run("hi", "bob"), { mode: E, what: "a run through the client" });
            if (!run.ok) return run;
            if (run.o.kind === "rejected" && leaks(run.o.error)) return fail("key-leak", "the API key appears in the error");
            return pass();
          },
        });
      }
    }
  }
  return cases;
}

/** A fetch whose answer is hostile at `where`, for bob's requests until healed. */
function hostileFetch(state, where, make, how, ok) {
  return async (url, init) => {
    if (!state.hostile || !String(init?.body).includes("bob-ping")) return ok();
    state.hits++;
    if (where === "fetch") {
      const v = make(undefined);
      if (how === "throws") throw v;
      if (how === "rejects with") return Promise.reject(v);
      return v;
    }
    const good = ok();
    const res = { status: 200, headers: good.headers, body: good.body };
    if (where === "status") res.status = make(200);
    else if (where === "headers") res.headers = make(res.headers);
    else if (where === "body") res.body = make(res.body);
    else if (where === "read()") {
      // Once, then the end: a reader that never ends would spin the client's read loop on
      // microtasks alone, which starves every timer (a host bug, not a hostile value).
      let sent = false;
      res.body = { getReader: () => ({ read: async () => (sent ? { done: true, value: undefined } : ((sent = true), make({ done: false, value: new Uint8Array([123]) }))), cancel: async () => {} }) };
    }
    else if (where === "chunk") {
      let sent = false;
      res.body = { getReader: () => ({ read: async () => (sent ? { done: true, value: undefined } : ((sent = true), { done: false, value: make(new Uint8Array([123])) })), cancel: async () => {} }) };
    }
    return res;
  };
}

function providerFetchCases(T) {
  const cases = [];
  const WHERE = [
    ["fetch", ["throws", "rejects with", "resolves to"]],
    ["status", ["is"]],
    ["headers", ["is"]],
    ["body", ["is"]],
    ["read()", ["resolves to"]],
    ["chunk", ["is"]],
  ];
  for (const provider of ["openai", "anthropic"]) {
    for (const stream of [false, true]) {
      for (const [where, hows] of WHERE) {
        for (const how of hows) {
          for (const [label, make] of HOSTILE) {
            // Headers only carry retry-after and content-type: any value may be ignored. A
            // Proxy of a ReadableStream is still a readable body where streams are JS objects
            // (Node), and one that refuses only enumeration is still readable anywhere.
            const mode = where === "headers" || (where === "body" && (BENIGN.has(label) || ENUM_THROWS.has(label))) ? E : R;
            cases.push({
              name: `${provider}${stream ? " (stream)" : ""}: response ${where} ${how} ${label}`,
              group: "provider-fetch",
              run: (h) =>
                twoTenants(h, T, {
                  mode,
                  codes: ["model_http", "model_malformed", "model_error"],
                  aliceText: provider === "openai" ? "from http" : undefined,
                  makeConfig: (state) => {
                    const model = T[provider]({ model: "m", apiKey: SECRET, baseUrl: "http://127.0.0.1:9/v1", fetch: hostileFetch(state, where, make, how, stream ? okSse : okJson), maxRetries: 0, timeoutMs: 2000, stream });
                    // Alice and bob's next run get a valid OpenAI body; the Anthropic client
                    // cannot read it, so there only bob's hostile run is checked.
                    return { model: provider === "openai" ? model : (req) => (req.userId === "bob" && state.hostile ? model(req) : echo(req)) };
                  },
                  inspect: (o) => (o?.kind === "rejected" && leaks(o.error) ? fail("key-leak", "the API key appears in the error") : null),
                }),
            });
          }
        }
      }
    }
  }
  return cases;
}

const MODEL_REQUEST = () => ({ messages: [{ role: "user", content: "hi" }], tools: [], maxOutputTokens: 10, userId: "u", sessionId: "s", runId: "r" });

function modelFunctionCases(T) {
  const cases = [];
  const fns = {
    "demoModel()": () => T.demoModel(),
    "openai()": () => T.openai({ model: "m", apiKey: SECRET, fetch: async () => okJson(), maxRetries: 0, stream: false }),
    "anthropic()": () => T.anthropic({ model: "m", apiKey: SECRET, fetch: async () => okJson(), maxRetries: 0, stream: false }),
    "workersAI()": () => T.workersAI({ run: async () => ({ response: "ok", usage: { prompt_tokens: 3, completion_tokens: 2 } }) }, "m"),
  };
  const POSITIONS = [
    { path: "", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) ? E : R) },
    { path: "messages", rule: () => E },
    { path: "messages.0.content", rule: () => E },
    { path: "maxOutputTokens", rule: () => E },
    { path: "onTextDelta", rule: () => E },
    { path: "abortSignal", rule: () => E },
  ];
  for (const [fname, mk] of Object.entries(fns)) {
    for (const pos of POSITIONS) {
      for (const [label, make] of HOSTILE) {
        cases.push({
          name: `${fname}(request): ${pos.path || "(request)"} = ${label}`,
          group: "model-functions",
          run: async (h) => {
            const req = MODEL_REQUEST();
            const value = make(pos.path ? getPath(req, pos.path) : req);
            const arg = pos.path ? (setPath(req, pos.path, value), req) : value;
            const f = mk();
            // A model function is called by the agent, or by hand: either way it answers
            // with a promise that rejects with a TenantryError, not with a raw exception.
            return expectAsync(h, T, () => f(arg), { mode: pos.rule(label), what: fname });
          },
        });
      }
    }
  }
  for (const [label, make] of HOSTILE) {
    cases.push({
      name: `memoryStorage(${label}) and indexedDbStorage(${label})`,
      group: "model-functions",
      run: async () => {
        const out = [];
        out.push(expectSync(T, () => T.memoryStorage(make(undefined)), { mode: E, what: "memoryStorage" }));
        out.push(expectSync(T, () => T.indexedDbStorage(make("tenantry-hostile")), { mode: E, what: "indexedDbStorage" }));
        return all(out);
      },
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// AI SDK language model objects (LanguageModelV2 / V3) as `model`: hostile objects at
// construction, hostile doGenerate and doStream answers, throws, and streams that break.

const V3_USAGE = () => ({ inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: undefined }, outputTokens: { total: 2, text: 2, reasoning: 0 } });
const V3_TEXT = (text) => ({ content: [{ type: "text", text }], finishReason: { unified: "stop", raw: "stop" }, usage: V3_USAGE(), warnings: [] });
const V3_TOOL = () => ({
  content: [{ type: "text", text: "" }, { type: "tool-call", toolCallId: "c1", toolName: "t", input: '{"q":1}' }],
  finishReason: { unified: "tool-calls", raw: "tool_calls" },
  usage: V3_USAGE(),
  warnings: [],
});
const V3_PARTS = () => [
  { type: "text-delta", id: "t", delta: "ok" },
  { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: V3_USAGE() },
];

function partStream(parts) {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
}

/** The answer anyone but a hostile bob gets: an echo, or what the tool said. */
function v3Answer(prompt) {
  const last = prompt[prompt.length - 1];
  if (last.role === "tool") return V3_TEXT(`tool said: ${JSON.stringify(last.content[0].output.value).slice(0, 60)}`);
  return V3_TEXT(`echo: ${last.content[0].text}`);
}

const V3_MODEL = () => ({
  specificationVersion: "v3",
  provider: "hostile",
  modelId: "m",
  supportedUrls: {},
  doGenerate: async (options) => v3Answer(options.prompt),
  doStream: async (options) => ({ stream: partStream([{ type: "text-delta", id: "t", delta: v3Answer(options.prompt).content[0].text }, V3_PARTS()[1]]) }),
});

/** A V3 model answering bob's input ("bob-ping") with `generate` / `stream` while
 *  state.hostile, everyone else (and bob's tool round) normally. */
function hostileAiSdkModel(state, { generate, stream }) {
  const base = V3_MODEL();
  const forBob = (prompt) => {
    const last = prompt[prompt.length - 1];
    return state.hostile && last.role === "user" && last.content[0].text === "bob-ping";
  };
  return {
    ...base,
    doGenerate(options) {
      if (!generate || !forBob(options.prompt)) return base.doGenerate(options);
      state.hits++;
      return generate(options);
    },
    doStream(options) {
      if (!stream || !forBob(options.prompt)) return base.doStream(options);
      state.hits++;
      return stream(options);
    },
  };
}

const AI_SDK_OBJECT_POSITIONS = [
  { path: "", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" || l === "function" ? E : R) },
  S("specificationVersion", { over: Object.fromEntries(HOSTILE.map(([l]) => [l, R])) }),
  F("doGenerate", { null: R }),
  F("doStream", { null: R }),
  S("modelId", { huge: E, null: R }),
];

const GENERATE_POSITIONS = [
  { path: "", base: () => V3_TEXT("ok"), rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
  { path: "content", base: () => V3_TEXT("ok"), rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "array" ? E : R) },
  { path: "content.0", base: () => V3_TEXT("ok"), rule: (l) => (BENIGN.has(l) ? E : R) },
  { path: "content.0.text", base: () => V3_TEXT("ok"), rule: (l) => (l === "huge string" ? E : R) },
  { path: "usage", base: () => V3_TEXT("ok"), rule: (l) => (UNREADABLE.has(l) ? R : E) },
  { path: "usage.inputTokens", base: () => V3_TEXT("ok"), rule: () => E },
  { path: "usage.outputTokens.total", base: () => V3_TEXT("ok"), rule: () => E },
  { path: "finishReason", base: () => V3_TEXT("ok"), rule: () => E },
  { path: "content.1", base: V3_TOOL, rule: (l) => (BENIGN.has(l) ? E : R) },
  { path: "content.1.toolName", base: V3_TOOL, rule: () => E },
  { path: "content.1.input", base: V3_TOOL, rule: () => E },
  { path: "content.1.toolCallId", base: V3_TOOL, rule: () => E },
];

const STREAM_POSITIONS = [
  { path: "", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
  // A Proxy of a ReadableStream is still readable where streams are JS objects (Node).
  { path: "stream", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) ? E : R) },
  { path: "parts.0", rule: (l) => (BENIGN.has(l) ? E : R) },
  { path: "parts.0.delta", rule: (l) => (l === "huge string" ? E : R) },
  { path: "parts.1.usage", rule: (l) => (UNREADABLE.has(l) ? R : E) },
  { path: "parts.1.finishReason", rule: () => E },
  { path: "read()", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
];

/** doStream's answer with `make` applied at `path` (`parts.i...` inside the parts, `read()`
 *  the reader's first result, once). */
function hostileStreamAnswer(path, make) {
  if (path === "") return make({ stream: partStream(V3_PARTS()) });
  if (path === "stream") return { stream: make(partStream(V3_PARTS())) };
  if (path === "read()") {
    let sent = false;
    const value = { done: false, value: V3_PARTS()[0] };
    const reader = { read: async () => (sent ? { done: true, value: undefined } : ((sent = true), make(value))), cancel: async () => {} };
    return { stream: { getReader: () => reader } };
  }
  const parts = V3_PARTS();
  const at = path.slice("parts.".length);
  setPath(parts, at, make(getPath(parts, at)));
  return { stream: partStream(parts) };
}

const AI_SDK_THROW_CODES = ["model_error", "model_http", "model_malformed", "aborted"];

function aiSdkCases(T) {
  const cases = [];
  const toolConfig = (model) => ({ model, tools: [TOOL()], budget: { perUser: { maxTotalTokens: 1_000_000 } }, onEvent: () => {} });
  for (const pos of AI_SDK_OBJECT_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.rule ? pos.rule(label) : expectation(pos, label);
      cases.push({
        name: `new Agent: an AI SDK model with ${pos.path || "(the object)"} = ${label}`,
        group: "ai-sdk-models",
        run: async (h) => {
          const model = V3_MODEL();
          const value = make(pos.path ? model[pos.path] : model);
          const config = { model: pos.path ? ((model[pos.path] = value), model) : value };
          const r = expectSync(T, () => new T.Agent(config), { mode, codes: ["invalid_config"], field: "model", what: "new Agent" });
          if (!r.ok || r.threw) return r;
          const run = await expectAsync(h, T, () => r.value.run("probe", "p"), { mode: E, codes: AI_SDK_THROW_CODES, what: "a run with the accepted model" });
          return run.ok ? pass() : run;
        },
      });
    }
  }
  for (const pos of GENERATE_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      cases.push({
        name: `AI SDK doGenerate answer: ${pos.path || "(the result)"} = ${label}`,
        group: "ai-sdk-models",
        run: (h) =>
          twoTenants(h, T, {
            mode: pos.rule(label),
            codes: MODEL_CODES,
            makeConfig: (state) =>
              toolConfig(
                hostileAiSdkModel(state, {
                  generate: async () => {
                    const answer = pos.base();
                    if (pos.path === "") return make(answer);
                    setPath(answer, pos.path, make(getPath(answer, pos.path)));
                    return answer;
                  },
                }),
              ),
            check: (result, agent) => checkUsage(result, agent),
          }),
      });
    }
  }
  for (const pos of STREAM_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      cases.push({
        name: `AI SDK doStream answer: ${pos.path || "(the result)"} = ${label}`,
        group: "ai-sdk-models",
        run: (h) =>
          twoTenants(h, T, {
            stream: true,
            mode: pos.rule(label),
            codes: [...MODEL_CODES, "model_http"],
            makeConfig: (state) => toolConfig(hostileAiSdkModel(state, { stream: async () => hostileStreamAnswer(pos.path, make) })),
          }),
      });
    }
  }
  const THROWN = [
    ...HOSTILE,
    ["undefined", () => undefined],
    ["an Error whose message getter throws", () => Object.defineProperty(new Error("x"), "message", { get: () => boom("message getter") })],
    ["an APICallError look-alike with a throwing statusCode getter", () => Object.defineProperty(new Error("x"), "statusCode", { get: () => boom("statusCode getter") })],
    ["an APICallError look-alike with a hostile statusCode", () => Object.assign(new Error("x"), { statusCode: Symbol("s"), name: 5n })],
  ];
  for (const [label, make] of THROWN) {
    for (const [method, stream] of [["doGenerate", false], ["doStream", true]]) {
      for (const how of ["throws", "rejects with"]) {
        const hostileCall = () => {
          const v = make({ message: "base" });
          if (how === "throws") throw v;
          return Promise.reject(v);
        };
        cases.push({
          name: `AI SDK ${method} ${how} ${label}`,
          group: "ai-sdk-models",
          run: (h) => twoTenants(h, T, { stream, mode: R, codes: AI_SDK_THROW_CODES, makeConfig: (state) => toolConfig(hostileAiSdkModel(state, stream ? { stream: hostileCall } : { generate: hostileCall })) }),
        });
      }
    }
    cases.push({
      name: `AI SDK stream errors mid-way with ${label}`,
      group: "ai-sdk-models",
      run: (h) =>
        twoTenants(h, T, {
          stream: true,
          mode: R,
          codes: AI_SDK_THROW_CODES,
          makeConfig: (state) =>
            toolConfig(
              hostileAiSdkModel(state, {
                stream: async () => ({
                  stream: new ReadableStream({
                    start(c) {
                      c.enqueue(V3_PARTS()[0]);
                    },
                    pull(c) {
                      c.error(make({ message: "base" }));
                    },
                  }),
                }),
              }),
            ),
        }),
    });
    cases.push({
      name: `AI SDK stream sends an error part of ${label}`,
      group: "ai-sdk-models",
      run: (h) =>
        twoTenants(h, T, {
          stream: true,
          mode: R,
          codes: AI_SDK_THROW_CODES,
          makeConfig: (state) => toolConfig(hostileAiSdkModel(state, { stream: async () => ({ stream: partStream([V3_PARTS()[0], { type: "error", error: make({ message: "base" }) }, V3_PARTS()[1]]) }) })),
        }),
    });
  }
  const THENABLES = [
    ["a thenable whose then getter throws", () => ({ get then() { return boom("then getter"); } })],
    ["a thenable whose then throws", () => ({ then: () => boom("then") })],
    ["a promise of a Proxy whose every trap throws", () => Promise.resolve(trapProxy(V3_TEXT("ok"), TRAPS_ALL))],
  ];
  for (const [label, make] of THENABLES) {
    for (const [method, stream] of [["doGenerate", false], ["doStream", true]]) {
      cases.push({
        name: `AI SDK ${method} returns ${label}`,
        group: "ai-sdk-models",
        run: (h) => twoTenants(h, T, { stream, mode: R, codes: AI_SDK_THROW_CODES, makeConfig: (state) => toolConfig(hostileAiSdkModel(state, stream ? { stream: make } : { generate: make })) }),
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// workersAI(binding, model, options): hostile arguments, and bindings answering hostile values

const WAI_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const WAI_USAGE = () => ({ prompt_tokens: 3, completion_tokens: 2 });
const WAI_TEXT = (text) => ({ response: text, usage: WAI_USAGE() });
const WAI_TOOL = () => ({ response: "", tool_calls: [{ name: "t", arguments: { q: 1 } }], usage: WAI_USAGE() });
const WAI_EVENTS = () => [{ response: "ok" }, { response: "", usage: WAI_USAGE() }];
const waiBytes = (events) => new TextEncoder().encode(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n");
const waiStream = (events) =>
  new ReadableStream({
    start(c) {
      c.enqueue(waiBytes(events));
      c.close();
    },
  });

/** A binding that answers like `echo` (alice, bob's next run, bob's tool round) and with
 *  `answer(inputs)` to bob's first run while state.hostile. */
function hostileBinding(state, answer) {
  return {
    run(model, inputs) {
      const last = inputs.messages[inputs.messages.length - 1];
      if (state.hostile && last.role === "user" && last.content === "bob-ping") {
        state.hits++;
        return answer(inputs);
      }
      const text = last.role === "tool" ? `tool said: ${String(last.content).slice(0, 60)}` : `echo: ${last.content}`;
      return Promise.resolve(inputs.stream ? waiStream([{ response: text }, { response: "", usage: WAI_USAGE() }]) : WAI_TEXT(text));
    },
  };
}

const WAI_ARG_POSITIONS = [
  { path: "binding", field: "binding", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
  { ...F("binding.run", { null: R }), field: "binding" },
  { ...S("model", { huge: E, null: R }), field: "model" },
  { ...O("options"), field: "options" },
  { ...J("options.inputs"), field: "options" },
  { ...J("options.gateway"), field: "options" },
];

const WAI_ANSWER_POSITIONS = [
  { path: "", base: () => WAI_TEXT("ok"), rule: (l) => (BENIGN.has(l) ? E : R) },
  { path: "response", base: () => WAI_TEXT("ok"), rule: (l) => (UNREADABLE.has(l) ? R : E) },
  { path: "usage", base: () => WAI_TEXT("ok"), rule: (l) => (UNREADABLE.has(l) || l === "array" ? R : E) },
  // An answer is JSON data, so a figure's toJSON is honoured as for every model answer.
  { path: "usage.prompt_tokens", base: () => WAI_TEXT("ok"), rule: (l) => (l === "null" || l === "-0" || l.startsWith("toJSON ") && l !== "toJSON throws" ? E : R) },
  { path: "usage.completion_tokens", base: () => WAI_TEXT("ok"), rule: (l) => (l === "null" || l === "-0" || l.startsWith("toJSON ") && l !== "toJSON throws" ? E : R) },
  { path: "tool_calls", base: WAI_TOOL, rule: (l) => (UNREADABLE.has(l) ? R : E) },
  { path: "tool_calls.0", base: WAI_TOOL, rule: (l) => (BENIGN.has(l) ? E : R) },
  { path: "tool_calls.0.name", base: WAI_TOOL, rule: (l) => (l === "huge string" ? E : R) },
  { path: "tool_calls.0.arguments", base: WAI_TOOL, rule: (l) => (UNREADABLE.has(l) ? R : E) },
  // Arrays are read by index: a Proxy refusing enumeration only is still read exactly.
  { path: "choices", base: () => ({ choices: [{ message: { content: "ok" }, finish_reason: "stop" }], usage: WAI_USAGE() }), rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) ? E : R) },
];

/** The stream `run` resolves to, hostile at `path`: the stream itself, a `read()` result,
 *  or the bytes of a chunk (once each). */
function hostileWaiStream(path, make) {
  if (path === "stream") return make(waiStream(WAI_EVENTS()));
  let sent = false;
  const first = () => ({ done: false, value: waiBytes(WAI_EVENTS()) });
  const read = async () => {
    if (sent) return { done: true, value: undefined };
    sent = true;
    if (path === "read()") return make(first());
    return { done: false, value: make(first().value) };
  };
  return { getReader: () => ({ read, cancel: async () => {} }) };
}

const WAI_STREAM_POSITIONS = [
  // A Proxy of a ReadableStream fails the stream's own brand checks, or reads through.
  { path: "stream", rule: (l) => (PROXIES.has(l) ? E : R) },
  // A read() result is read by its two keys, never enumerated.
  { path: "read()", rule: (l) => (BENIGN.has(l) || ENUM_THROWS.has(l) || l === "cycle" ? E : R) },
  { path: "chunk", rule: () => R },
];

const WAI_CODES = ["model_error", "model_http", "model_malformed", "unsupported"];

function workersAiCases(T) {
  const cases = [];
  const config = (model) => ({ model, tools: [TOOL()], budget: { perUser: { maxTotalTokens: 1_000_000 } }, onEvent: () => {} });
  for (const pos of WAI_ARG_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      const mode = pos.rule ? pos.rule(label) : expectation(pos, label);
      cases.push({
        name: `workersAI(binding, model, options): ${pos.path} = ${label}`,
        group: "workers-ai",
        run: async (h) => {
          const args = {
            binding: { run: async (model, inputs) => WAI_TEXT(`echo: ${inputs.messages[inputs.messages.length - 1].content}`) },
            model: WAI_MODEL,
            options: { inputs: { temperature: 0.2 }, gateway: { id: "gw" } },
          };
          setPath(args, pos.path, make(getPath(args, pos.path)));
          const r = expectSync(T, () => T.workersAI(args.binding, args.model, args.options), { mode, codes: ["invalid_config"], field: pos.field, what: "workersAI()" });
          if (!r.ok || r.threw) return r;
          if (typeof r.value !== "function") return fail("bad-result", `workersAI() returned ${summary(r.value)}`);
          const run = await expectAsync(h, T, () => new T.Agent({ model: r.value }).run("probe", "p"), { mode: E, codes: WAI_CODES, what: "a run through the accepted model" });
          return run.ok ? pass() : run;
        },
      });
    }
  }
  for (const pos of WAI_ANSWER_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      cases.push({
        name: `workersAI: run() resolves with ${pos.path || "(the answer)"} = ${label}`,
        group: "workers-ai",
        run: (h) =>
          twoTenants(h, T, {
            mode: pos.rule(label),
            codes: WAI_CODES,
            makeConfig: (state) =>
              config(
                T.workersAI(
                  hostileBinding(state, async () => {
                    const answer = pos.base();
                    if (pos.path === "") return make(answer);
                    setPath(answer, pos.path, make(getPath(answer, pos.path)));
                    return answer;
                  }),
                  WAI_MODEL,
                ),
              ),
            check: (result, agent) => checkUsage(result, agent),
          }),
      });
    }
  }
  for (const pos of WAI_STREAM_POSITIONS) {
    for (const [label, make] of HOSTILE) {
      cases.push({
        name: `workersAI: run() streams with ${pos.path} = ${label}`,
        group: "workers-ai",
        run: (h) =>
          twoTenants(h, T, {
            stream: true,
            mode: pos.rule(label),
            codes: WAI_CODES,
            makeConfig: (state) => config(T.workersAI(hostileBinding(state, async () => hostileWaiStream(pos.path, make)), WAI_MODEL)),
          }),
      });
    }
  }
  const THROWN = [
    ...HOSTILE,
    ["undefined", () => undefined],
    ["an Error whose message getter throws", () => Object.defineProperty(new Error("x"), "message", { get: () => boom("message getter") })],
    ["an Error whose name getter throws", () => Object.defineProperty(new Error("x"), "name", { get: () => boom("name getter") })],
    ["an InferenceUpstreamError look-alike with a hostile name", () => Object.assign(new Error("5007: No such model"), { name: Symbol("s") })],
  ];
  for (const [label, make] of THROWN) {
    for (const stream of [false, true]) {
      for (const how of ["throws", "rejects with"]) {
        cases.push({
          name: `workersAI: run() ${how} ${label}${stream ? " (stream)" : ""}`,
          group: "workers-ai",
          run: (h) =>
            twoTenants(h, T, {
              stream,
              mode: R,
              codes: WAI_CODES,
              makeConfig: (state) =>
                config(
                  T.workersAI(
                    hostileBinding(state, () => {
                      const v = make({ message: "base" });
                      if (how === "throws") throw v;
                      return Promise.reject(v);
                    }),
                    WAI_MODEL,
                  ),
                ),
            }),
        });
      }
    }
    cases.push({
      name: `workersAI: the stream errors mid-way with ${label}`,
      group: "workers-ai",
      run: (h) =>
        twoTenants(h, T, {
          stream: true,
          mode: R,
          codes: WAI_CODES,
          makeConfig: (state) =>
            config(
              T.workersAI(
                hostileBinding(state, async () =>
                  new ReadableStream({
                    start(c) {
                      c.enqueue(new TextEncoder().encode('data: {"response":"partial"}\n\n'));
                    },
                    pull(c) {
                      c.error(make({ message: "base" }));
                    },
                  }),
                ),
                WAI_MODEL,
              ),
            ),
        }),
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// Named regressions

function regressionCases(T) {
  return [
    {
      name: "lone surrogate ids are refused, never merged with U+FFFD",
      group: "regression",
      run: async (h) => {
        const agent = new T.Agent({ model: seen, audit: { key: AUDIT_KEY } });
        const out = [];
        const first = await h.wait(agent.run("secret-of-fffd", "bob\ufffd", { sessionId: "s" }));
        if (first.kind !== "resolved") return fail("control", `run as "bob\\ufffd": ${first.detail ?? describeError(first.error)}`);
        await h.wait(agent.setBlock("bob\ufffd", "label", "block-of-fffd"));
        for (const lone of ["bob\ud800", "bob\udfff"]) {
          const tag = JSON.stringify(lone).replace(/\\\\/g, "\\");
          const r = await expectAsync(h, T, () => agent.run("who am i", lone, { sessionId: "s" }), { codes: ["invalid_user_id"], what: `run as ${tag}` });
          if (!r.ok && r.o?.kind === "resolved" && String(r.o.value.text).includes("secret-of-fffd")) out.push(fail("merged-id", `run as ${tag} saw bob\\ufffd's history: ${summary(r.o.value.text)}`));
          else out.push(r);
          out.push(await expectStream(h, T, () => agent.stream("who am i", lone, { sessionId: "s" }), { mode: R, codes: ["invalid_user_id"], what: `stream as ${tag}` }));
          for (const [m, call] of Object.entries(SYNC_ID_METHODS)) {
            const s = expectSync(T, () => call(agent, lone), { codes: ["invalid_user_id"], what: `${m}(${tag})` });
            if (!s.ok && s.value !== undefined && JSON.stringify(s.value).includes("fffd")) out.push(fail("merged-id", `${m}(${tag}) read bob\\ufffd's data: ${summary(s.value)}`));
            else out.push(s);
          }
          for (const [m, call] of Object.entries(ASYNC_ID_METHODS)) {
            out.push(await expectAsync(h, T, () => call(agent, lone), { codes: ["invalid_user_id"], what: `${m}(${tag})` }));
          }
          const doc = await agent.export("bob\ufffd");
          doc.userId = lone;
          for (const s of doc.sessions) s.userId = lone;
          out.push(await expectAsync(h, T, () => agent.import(doc), { codes: ["invalid_import", "invalid_user_id"], what: `import of a doc for ${tag}` }));
        }
        // The sessions of one user: "s\ufffd" and "s\ud800" must not be one conversation.
        await h.wait(agent.run("secret-of-session", "carol", { sessionId: "s\ufffd" }));
        const sr = await expectAsync(h, T, () => agent.run("which session", "carol", { sessionId: "s\ud800" }), { codes: ["invalid_session_id"], what: 'run in session "s\\ud800"' });
        if (!sr.ok && sr.o?.kind === "resolved" && String(sr.o.value.text).includes("secret-of-session")) out.push(fail("merged-id", `session "s\\ud800" continued session "s\\ufffd": ${summary(sr.o.value.text)}`));
        else out.push(sr);
        out.push(expectSync(T, () => agent.history("carol", "s\udc00"), { codes: ["invalid_session_id"], what: 'history(carol, "s\\udc00")' }));
        // Nothing that was refused touched the real "bob\ufffd".
        try {
          if (agent.size("bob\ufffd") !== 2 || agent.blocks("bob\ufffd").length !== 1) out.push(fail("merged-id", `calls with lone-surrogate ids changed bob\\ufffd: size ${agent.size("bob\ufffd")}, blocks ${summary(agent.blocks("bob\ufffd"))}`));
        } catch (e) {
          out.push(fail("merged-id", `bob\\ufffd unreadable afterwards: ${describeError(e)}`));
        }
        return all(out);
      },
    },
    {
      name: "a throwing getter in a model answer (text / usage.inputTokens / toolCalls) rejects that run only and the session is not left locked",
      group: "regression",
      run: async (h) => {
        const answers = {
          text: () => ({ get text() { return boom("text getter"); }, usage: ECHO_USAGE }),
          "usage.inputTokens": () => ({ text: "ok", usage: { get inputTokens() { return boom("inputTokens getter"); }, outputTokens: 1 } }),
          toolCalls: () => ({ text: "", get toolCalls() { return boom("toolCalls getter"); } }),
        };
        const out = [];
        for (const [where, answer] of Object.entries(answers)) {
          for (const stream of [false, true]) {
            const r = await twoTenants(h, T, { stream, mode: R, codes: MODEL_CODES, makeConfig: (state) => ({ model: hostileModel(state, answer), tools: [TOOL()] }) });
            if (!r.ok) out.push(fail(causeOf(r.detail), `${where}${stream ? " (stream)" : ""}: ${r.detail}`));
            // After an uncaught exception every later wait reports it again: stop here.
            if (!r.ok && causeOf(r.detail) === "uncaught") return all([...out, fail("uncaught", "the later answers were not tried (the process may be damaged)")]);
          }
        }
        return all(out);
      },
    },
    {
      name: "run() with a Proxy options object whose traps throw rejects (never throws synchronously)",
      group: "regression",
      run: async (h) => {
        const out = [];
        const traps = [["get"], ["has"], ["ownKeys"], ["getOwnPropertyDescriptor"], ["getPrototypeOf"], TRAPS_ALL];
        for (const t of traps) {
          const label = t.length > 1 ? "every trap" : t[0];
          const agent = new T.Agent({ model: echo });
          const mustReject = !["has", "getPrototypeOf"].includes(label);
          const r = await expectAsync(h, T, () => agent.run("hi", "bob", trapProxy({ sessionId: "s" }, t)), { mode: mustReject ? R : E, codes: ["invalid_input", "invalid_session_id"], what: `run with a Proxy whose ${label} trap throws` });
          if (r.ok && r.o.kind === "resolved" && r.o.value.sessionId !== "s") out.push(fail("accepted", `a Proxy whose ${label} trap throws ran in session ${summary(r.o.value.sessionId)}`));
          else out.push(r);
          out.push(await expectStream(h, T, () => agent.stream("hi", "bob", trapProxy({ sessionId: "s" }, t)), { mode: mustReject ? R : E, codes: ["invalid_input", "invalid_session_id"], what: `stream with a Proxy whose ${label} trap throws` }));
        }
        const agent = new T.Agent({ model: echo });
        out.push(await expectAsync(h, T, () => agent.run("hi", "bob", revokedProxy({})), { codes: ["invalid_input"], what: "run with a revoked Proxy" }));
        out.push(await expectAsync(h, T, () => agent.run("after", "bob"), { mode: E, what: "a normal run afterwards" }));
        return all(out);
      },
    },
    {
      name: "a throwing sessionId getter rejects the run",
      group: "regression",
      run: async (h) => {
        const agent = new T.Agent({ model: echo });
        const out = [];
        const options = () => ({ get sessionId() { return boom("sessionId getter"); } });
        const r = await expectAsync(h, T, () => agent.run("should not run", "bob", options()), { codes: ["invalid_input", "invalid_session_id"], what: "run" });
        if (!r.ok && r.o?.kind === "resolved") out.push(fail("accepted", `the run went ahead in session ${summary(r.o.value.sessionId)}`));
        else out.push(r);
        out.push(await expectStream(h, T, () => agent.stream("should not run", "bob", options()), { mode: R, codes: ["invalid_input", "invalid_session_id"] }));
        try {
          if (agent.size("bob") !== 0) out.push(fail("accepted", `bob has ${agent.size("bob")} messages (in ${summary(agent.sessions("bob").map((s) => s.id))})`));
        } catch (e) {
          out.push(fail("not-tenantry-error", `size: ${describeError(e)}`));
        }
        return all(out);
      },
    },
    {
      name: "NaN and other non-numbers as limits are invalid_config, not no cap (50 runs of 2000 tokens vs maxTotalTokens: Number(undefined))",
      group: "regression",
      run: async (h) => {
        const out = [];
        const model = () => ({ text: "spent", usage: { inputTokens: 1000, outputTokens: 1000 } });
        const limits = [
          ["Number(undefined)", () => Number(undefined)],
          ["a function", () => () => 100],
          ["a Symbol", () => Symbol("cap")],
          ["{ toJSON: () => null }", () => ({ toJSON: () => null })],
          ["null", () => null],
          ['"100"', () => "100"],
          ["100n", () => 100n],
        ];
        for (const [label, make] of limits) {
          let agent;
          try {
            agent = new T.Agent({ model, budget: { perUser: { maxTotalTokens: make() } } });
          } catch (e) {
            out.push(checkError(T, e, { codes: ["invalid_config"], field: "budget.perUser.maxTotalTokens", what: `maxTotalTokens: ${label}` }));
            continue;
          }
          let done = 0;
          for (let i = 0; i < 50; i++) {
            const r = await h.wait(agent.run(`run ${i}`, "bob"));
            if (r.kind === "resolved") done++;
            else break;
          }
          out.push(fail("accepted", `maxTotalTokens: ${label} was accepted as no cap: ${done}/50 runs of 2000 tokens went through`));
        }
        return all(out);
      },
    },
  ];
}

/** Every case, in a fixed order (a runner resumes from an index after a crash). */
export function hostileCases(tenantry) {
  const T = tenantry;
  return [
    ...regressionCases(T),
    ...configCases(T),
    ...runCases(T),
    ...idCases(T),
    ...methodArgCases(T),
    ...importCases(T),
    ...verifyCases(T),
    ...toolDefinitionCases(T),
    ...modelCases(T),
    ...toolCases(T),
    ...storageCases(T),
    ...sinkCases(T),
    ...providerCases(T),
    ...providerFetchCases(T),
    ...modelFunctionCases(T),
    ...aiSdkCases(T),
    ...workersAiCases(T),
    ...chatCases(T),
  ];
}

// ---------------------------------------------------------------------------------------
// Runner

const tick = () => new Promise((r) => setTimeout(r, 0));

/**
 * Runs cases[start..end) one at a time. `trap(report)` installs the environment's
 * uncaught-exception and unhandled-rejection hooks, calling report(kind, error), and
 * returns an uninstaller. Stops after a failure that may have left the instance
 * inconsistent; resolves to { next, poisoned }.
 */
export async function runHostile(cases, { start = 0, end = cases.length, hangMs = HANG_MS, caseTimeoutMs = 60_000, trap, onStart, onResult }) {
  let current = null;
  const report = (kind, error) => {
    const text = `${kind}: ${describeError(error)}`;
    if (current) {
      current.uncaught.push(text);
      current.wake(text);
    }
  };
  const uninstall = trap(report);
  try {
    for (let i = start; i < Math.min(end, cases.length); i++) {
      const c = cases[i];
      onStart?.(i, c);
      let wake;
      const signal = new Promise((r) => (wake = r));
      current = { uncaught: [], wake };
      const h = {
        hangMs,
        wait(p, ms = hangMs) {
          let timer;
          return Promise.race([
            Promise.resolve(p).then(
              (value) => ({ kind: "resolved", value }),
              (error) => ({ kind: "rejected", error }),
            ),
            new Promise((r) => (timer = setTimeout(() => r({ kind: "hung" }), ms))),
            signal.then((detail) => ({ kind: "uncaught", detail })),
          ]).finally(() => clearTimeout(timer));
        },
      };
      let res;
      let timer;
      try {
        res = await Promise.race([
          Promise.resolve().then(() => c.run(h)),
          new Promise((r) => (timer = setTimeout(() => r(fail("hang", `the case did not finish within ${caseTimeoutMs} ms`)), caseTimeoutMs))),
        ]);
      } catch (e) {
        res = fail("case-error", `the case itself threw: ${describeError(e)}`);
      } finally {
        clearTimeout(timer);
      }
      if (!res || typeof res.ok !== "boolean") res = fail("case-error", `the case returned ${summary(res)}`);
      // Late rejections and exceptions of this case surface before the next one starts.
      await tick();
      await tick();
      if (current.uncaught.length && (res.ok || causeOf(res.detail) !== "uncaught")) {
        res = fail("uncaught", current.uncaught.join("; ") + (res.ok ? "" : ` (and ${res.detail})`));
      }
      current = null;
      const poisoned = !res.ok && POISONING.has(causeOf(res.detail));
      onResult?.(i, c, { ok: res.ok, detail: res.detail, poisoned });
      if (poisoned) return { next: i + 1, poisoned: true };
    }
  } finally {
    uninstall();
  }
  return { next: Math.min(end, cases.length), poisoned: false };
}
