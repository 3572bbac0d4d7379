#!/usr/bin/env node
// verify-audit: checks a tenantry audit log (JSON lines) with the host's secret key.
//
// This is a second, independent implementation of the Rust verifier (src/audit/): the
// canonical JSON (src/audit/canonical.rs), the entry fields (entry.rs), key text (key.rs),
// file lines (jsonl.rs) and the verification order and messages (verify.rs) must stay
// identical, so that both name the same broken line for the same reason. The shared
// fixture tests/fixtures/audit-chain.jsonl is checked by both test suites.
//
// No dependencies: node:crypto for HMAC-SHA256, node:util for arguments.

import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const USAGE = `usage: verify-audit <file.jsonl> [--key-env NAME | --key-file PATH]
                    [--expect-count N] [--expect-last MAC]

Verifies a tenantry audit log: every entry's HMAC, and that no entry was deleted,
reordered, inserted or modified, nor holds a key twice.

The entries alone cannot show entries cut from the end, nor a whole log replaced by
another valid chain under the same key. Record the count and the last entry's MAC
elsewhere (each run prints them) and pass them back:

  --expect-count N   the log must hold exactly N entries (0 accepts an empty log)
  --expect-last MAC  the log's last entry must have this MAC (64 lowercase hex digits);
                     it pins the whole chain before it, so it catches both
  --key-env NAME     read the key from environment variable NAME (default TENANTRY_AUDIT_KEY)
  --key-file PATH    read the key from a file (one trailing newline is ignored)

An empty log fails unless --expect-count 0. Without --expect-last, a passing run says
what it could not check.

Key text is taken as UTF-8 bytes, or as hex:<digits> or base64:<text>; at least 16 bytes.
Exit status: 0 verified (and as expected), 1 broken, not as expected or empty, 2 usage error.`;

const GENESIS_PREV = "0".repeat(64);
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const MAX_DEPTH = 64;
const MIN_KEY_BYTES = 16;
const FIELDS = ["data", "mac", "prev", "runId", "seq", "sessionId", "ts", "type", "userId"];

class UsageError extends Error {}

/** A line that is not a valid entry; `seq` when the line has a readable one. */
class Malformed extends Error {
  constructor(detail, seq) {
    super(detail);
    this.seq = seq;
  }
}

// ---- key text (src/audit/key.rs) ----

function keyFromText(text) {
  let bytes;
  if (text.startsWith("hex:")) {
    const hex = text.slice(4);
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new UsageError("`hex:` key: not an even number of hex digits");
    }
    bytes = Buffer.from(hex, "hex");
  } else if (text.startsWith("base64:")) {
    const b64 = text.slice(7);
    // Node's decoder skips bad characters silently; the Rust side refuses them.
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) {
      throw new UsageError("`base64:` key: not padded standard base64");
    }
    bytes = Buffer.from(b64, "base64");
  } else {
    bytes = Buffer.from(text, "utf8");
  }
  if (bytes.length === 0) {
    throw new UsageError("an audit key is required (there is no default)");
  }
  if (bytes.length < MIN_KEY_BYTES) {
    throw new UsageError(
      `the audit key must be at least ${MIN_KEY_BYTES} bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

function readKey(values) {
  if (values["key-file"] !== undefined) {
    const path = values["key-file"];
    let buf;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read key file ${path}: ${e.code ?? e.message}`);
    }
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(buf);
    } catch {
      throw new UsageError("the key file is not UTF-8 text (use hex: or base64: for binary keys)");
    }
    // Editors end files with a newline; it is not part of the key.
    return keyFromText(text.replace(/\r?\n$/, ""));
  }
  const name = values["key-env"] ?? "TENANTRY_AUDIT_KEY";
  const text = process.env[name];
  if (text === undefined) {
    throw new UsageError(`no key: environment variable ${name} is not set (or pass --key-file)`);
  }
  return keyFromText(text);
}

// ---- canonical JSON (src/audit/canonical.rs): RFC 8785 ----

function canonical(v) {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      // ECMAScript Number::toString; -0 prints as 0. Non-finite numbers were refused.
      return JSON.stringify(v);
    case "string":
      return JSON.stringify(v);
    case "object":
      if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
      // The default sort compares UTF-16 code units, as the Rust side does.
      return `{${Object.keys(v)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
        .join(",")}}`;
    default:
      throw new Malformed(`unexpected ${typeof v}`);
  }
}

const isWellFormed = (s) =>
  typeof s.isWellFormed === "function"
    ? s.isWellFormed()
    : !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** What the Rust reader (src/audit/parse.rs) refuses but JSON.parse lets through. */
function checkValue(v, depth) {
  if (typeof v === "number" && !Number.isFinite(v)) {
    throw new Malformed("number out of the range of a double");
  }
  if (typeof v === "string" && !isWellFormed(v)) {
    throw new Malformed("lone surrogate in a string");
  }
  if (v !== null && typeof v === "object") {
    if (depth > MAX_DEPTH) {
      throw new Malformed(`arrays and objects nest deeper than ${MAX_DEPTH} levels`);
    }
    for (const k of Array.isArray(v) ? [] : Object.keys(v)) {
      if (!isWellFormed(k)) throw new Malformed("lone surrogate in a string");
    }
    for (const child of Object.values(v)) checkValue(child, depth + 1);
  }
}

// ---- entries and lines (src/audit/entry.rs, jsonl.rs) ----

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isSeq = (v) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_SEQ;

function checkEntry(v) {
  if (!isObject(v)) throw new Malformed("not a JSON object");
  const seq = isSeq(v.seq) ? v.seq : undefined;
  const bad = (detail) => new Malformed(detail, seq);
  const unknown = Object.keys(v)
    .sort()
    .find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) throw bad(`unknown field ${JSON.stringify(unknown)}`);
  const missing = FIELDS.find((k) => !Object.hasOwn(v, k));
  if (missing !== undefined) throw bad(`missing field "${missing}"`);
  if (seq === undefined) throw bad(`"seq" must be a whole number from 0 to ${MAX_SEQ}`);
  if (typeof v.ts !== "number") throw bad('"ts" must be a number');
  if (typeof v.type !== "string" || v.type === "") throw bad('"type" must be a non-empty string');
  for (const k of ["userId", "sessionId", "runId"]) {
    if (v[k] !== null && typeof v[k] !== "string") throw bad(`"${k}" must be a string or null`);
  }
  if (!isObject(v.data)) throw bad('"data" must be an object');
  for (const k of ["prev", "mac"]) {
    if (typeof v[k] !== "string") throw bad(`"${k}" must be a string`);
  }
  return v;
}

function splitLines(bytes) {
  if (bytes.length === 0) return [];
  const body = bytes[bytes.length - 1] === 0x0a ? bytes.subarray(0, -1) : bytes;
  const lines = [];
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x0a) {
      lines.push(body.subarray(start, i));
      start = i + 1;
    }
  }
  lines.push(body.subarray(start));
  return lines;
}

/**
 * The first key found repeated in its object, in text order, of a text `JSON.parse`
 * accepted (src/audit/parse.rs names the same key). `JSON.parse` keeps the last of two,
 * other readers the first: a line holding a forged value before the signed one would
 * verify while such a reader acts on the forgery.
 */
function duplicateKey(text) {
  const open = []; // per open container: a Set of keys for an object, null for an array
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const token = text.slice(i, end + 1);
      i = end + 1;
      const keys = open.at(-1);
      if (keys) {
        let next = i;
        while (next < text.length && " \t\n\r".includes(text[next])) next++;
        if (text[next] === ":") {
          const key = JSON.parse(token);
          if (keys.has(key)) return key;
          keys.add(key);
        }
      }
      continue;
    }
    if (c === "{") open.push(new Set());
    else if (c === "[") open.push(null);
    else if (c === "}" || c === "]") open.pop();
    i++;
  }
  return undefined;
}

function parseLine(buf) {
  let text;
  try {
    // A BOM is kept (and then refused by JSON.parse), as in Rust.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw new Malformed("not valid UTF-8");
  }
  let value;
  try {
    value = JSON.parse(text);
    // The Rust reader refuses these while parsing, so they count as "not JSON" there too.
    checkValue(value, 1);
  } catch (e) {
    // A RangeError is the stack giving out on absurd nesting: unusable all the same.
    const detail = e instanceof RangeError ? "arrays and objects nest too deeply" : e.message;
    throw new Malformed(`not JSON: ${detail}`);
  }
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new Malformed(`duplicate key ${JSON.stringify(dup)}`);
  return checkEntry(value);
}

// ---- verification (src/audit/verify.rs) ----

function macOk(entry, key) {
  const { mac, ...signed } = entry;
  const want = Buffer.from(createHmac("sha256", key).update(canonical(signed), "utf8").digest("hex"));
  const got = Buffer.from(mac, "utf8");
  return got.length === want.length && timingSafeEqual(got, want);
}

function message(reason, seq, expected) {
  switch (reason) {
    case "wrong_key":
      return "wrong key (the first entry's MAC fails and no entry verifies with this key)";
    case "modified":
      return "inserted or modified entry (MAC mismatch)";
    case "deleted":
      return `deleted entry (seq gap: expected ${expected}, found ${seq})`;
    case "reordered":
      if (seq < expected) {
        return `reordered or replayed entry (expected seq ${expected}, found ${seq})`;
      }
      if (seq > expected) {
        return `reordered entry (expected seq ${expected}, found ${seq}; seq ${expected} comes later)`;
      }
      return "reordered entry (prev does not link to the previous entry's MAC)";
    default:
      throw new Error(`unknown reason ${reason}`);
  }
}

function verifyEntries(entries, key) {
  let wantSeq = 0;
  let wantPrev = GENESIS_PREV;
  const broken = (index, reason, expected) => {
    const seq = entries[index].seq;
    return { ok: false, checked: index, index, seq, message: message(reason, seq, expected) };
  };
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!macOk(e, key)) {
      // Wrong-key heuristic: the first entry fails and no entry verifies.
      const wrongKey = i === 0 && !entries.some((x) => macOk(x, key));
      return broken(i, wrongKey ? "wrong_key" : "modified");
    }
    if (e.seq < wantSeq) return broken(i, "reordered", wantSeq);
    if (e.seq > wantSeq) {
      const later = entries.slice(i + 1).some((x) => x.seq === wantSeq);
      return broken(i, later ? "reordered" : "deleted", wantSeq);
    }
    if (e.prev !== wantPrev) return broken(i, "reordered", wantSeq);
    wantSeq = e.seq + 1;
    wantPrev = e.mac;
  }
  return { ok: true, checked: entries.length, entries, last: entries.at(-1) };
}

function verifyJsonl(bytes, key) {
  const entries = [];
  let malformed;
  for (const [i, line] of splitLines(bytes).entries()) {
    try {
      entries.push(parseLine(line));
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      malformed = { index: i, seq: e.seq, detail: e.message };
      break;
    }
  }
  // Entries before a malformed line are checked first, so an earlier break wins.
  const report = verifyEntries(entries, key);
  if (!report.ok || malformed === undefined) return report;
  const { index, seq, detail } = malformed;
  return { ok: false, checked: index, index, seq, message: `malformed entry: ${detail}` };
}

// ---- command line ----

function main(argv) {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        "key-env": { type: "string" },
        "key-file": { type: "string" },
        "expect-count": { type: "string" },
        "expect-last": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError(e.message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Run as `tenantry verify-audit <file>` through a package bin, or directly.
  if (positionals[0] === "verify-audit") positionals = positionals.slice(1);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "missing <file.jsonl>" : "expected one file");
  }
  if (values["key-env"] !== undefined && values["key-file"] !== undefined) {
    throw new UsageError("pass either --key-env or --key-file, not both");
  }
  const expect = readExpectations(values);
  const key = readKey(values);
  const file = positionals[0];
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${e.code ?? e.message}`);
  }
  const r = verifyJsonl(bytes, key);
  if (!r.ok) {
    process.stdout.write(`broken at line ${r.index + 1} (seq ${r.seq ?? "?"}): ${r.message}\n`);
    return 1;
  }
  const unmet = unmetExpectation(r, expect);
  if (unmet !== undefined) {
    process.stdout.write(`${unmet}\n`);
    return 1;
  }
  process.stdout.write(passed(r, expect));
  return 0;
}

function readExpectations(values) {
  const expect = {};
  const count = values["expect-count"];
  if (count !== undefined) {
    if (!/^\d+$/.test(count) || !Number.isSafeInteger(Number(count))) {
      throw new UsageError("--expect-count must be a whole number of entries (0 or more)");
    }
    expect.count = Number(count);
  }
  const last = values["expect-last"];
  if (last !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(last)) {
      throw new UsageError("--expect-last must be an entry's mac: 64 lowercase hex digits");
    }
    expect.last = last;
  }
  return expect;
}

/** Why a log that verifies is still not the one expected, or undefined. */
function unmetExpectation(r, expect) {
  const n = r.checked;
  if (expect.count !== undefined && n !== expect.count) {
    const why =
      n < expect.count
        ? "entries were cut from the end, or the log was replaced"
        : "entries were added since the count was recorded, or the log was replaced";
    return `count mismatch: ${n} entries verified, expected ${expect.count} (${why})`;
  }
  if (n === 0 && expect.count === undefined) {
    return "no entries: nothing verified (pass --expect-count 0 if an empty log is expected)";
  }
  if (expect.last !== undefined && r.last?.mac !== expect.last) {
    if (n === 0) return "last entry mismatch: the log has no entries, expected one with the given mac";
    const at = r.entries.findIndex((e) => e.mac === expect.last);
    return at >= 0
      ? `last entry mismatch: the expected last entry is line ${at + 1}, but the log goes on to line ${n} (entries were added since it was recorded)`
      : "last entry mismatch: no entry has the expected mac (entries were cut from the end, or the log was replaced by another chain)";
  }
  return undefined;
}

function passed(r, expect) {
  const n = r.checked;
  let out = `ok: ${n} entries verified\n`;
  if (r.last !== undefined) out += `last entry: line ${n}, seq ${r.last.seq}, mac ${r.last.mac}\n`;
  if (expect.count !== undefined) out += `count: ${n} as expected\n`;
  if (expect.last !== undefined) out += "last mac: as expected\n";
  if (expect.last === undefined && n > 0) {
    out +=
      expect.count === undefined
        ? "not checked: entries cut from the end, and a whole log replaced by another valid chain under the same key (pass --expect-count and --expect-last with values recorded elsewhere)\n"
        : `not checked: a whole log replaced by another valid chain of ${n} entries under the same key (pass --expect-last with the mac recorded elsewhere)\n`;
  }
  return out;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`verify-audit: ${e.message}\n\n${USAGE}\n`);
  } else {
    process.stderr.write(`verify-audit: internal error: ${e?.stack ?? e}\n`);
  }
  process.exitCode = 2;
}
