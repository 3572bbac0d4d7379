// The audit CLI (pkg-template/cli/verify-audit.mjs) on the fixture the Rust side writes
// and verifies (src/audit/jsonl.rs): both implementations must agree on it, and name the
// same line and reason for the same tampering (the Rust test expects the same words).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../pkg-template/cli/verify-audit.mjs", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../fixtures/audit-chain.jsonl", import.meta.url));
const KEY = "test-key-0123456789abcdef";
const LINES = readFileSync(FIXTURE, "utf8").split("\n").slice(0, -1);

const dir = mkdtempSync(join(tmpdir(), "tenantry-audit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content) {
  const path = join(dir, `log-${n++}.jsonl`);
  writeFileSync(path, content);
  return path;
}
const linesFile = (lines) => file(lines.map((l) => `${l}\n`).join(""));

function run(args, env = { TENANTRY_AUDIT_KEY: KEY }) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const macOf = (line) => JSON.parse(line).mac;
const LAST_MAC = macOf(LINES.at(-1));
/** What a passing bare run prints: the count, the last entry, and what it cannot check. */
const bareOk = (n, lines = LINES) =>
  `ok: ${n} entries verified\n` +
  `last entry: line ${n}, seq ${JSON.parse(lines[n - 1]).seq}, mac ${macOf(lines[n - 1])}\n` +
  "not checked: entries cut from the end, and a whole log replaced by another valid chain under the same key (pass --expect-count and --expect-last with values recorded elsewhere)\n";

/** Entries signed into a fresh chain under KEY, as lines (canonical JSON: keys sorted). */
function resign(entries) {
  const sorted = (v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]))
      : Array.isArray(v)
        ? v.map(sorted)
        : v;
  let prev = "0".repeat(64);
  return entries.map((entry) => {
    const { mac: _, ...signed } = { ...entry, prev };
    const mac = createHmac("sha256", KEY).update(JSON.stringify(sorted(signed))).digest("hex");
    prev = mac;
    return JSON.stringify({ ...signed, mac });
  });
}

function assertBroken(path, want, env) {
  const r = run([path], env);
  assert.equal(r.out, `${want}\n`, r.err);
  assert.equal(r.code, 1);
}

describe("verify-audit on an intact log", () => {
  test("verifies the Rust-written fixture", () => {
    assert.equal(LINES.length, 9);
    const r = run([FIXTURE]);
    assert.deepEqual(r, { code: 0, out: bareOk(9), err: "" });
  });

  test("takes the key from another variable, a file, hex: or base64:", () => {
    const hex = `hex:${Buffer.from(KEY).toString("hex")}`;
    const b64 = `base64:${Buffer.from(KEY).toString("base64")}`;
    const ok = { code: 0, out: bareOk(9), err: "" };
    assert.deepEqual(run([FIXTURE, "--key-env", "MY_KEY"], { MY_KEY: KEY }), ok);
    assert.deepEqual(run([`--key-env=MY_KEY`, FIXTURE], { MY_KEY: hex }), ok);
    assert.deepEqual(run([FIXTURE], { TENANTRY_AUDIT_KEY: b64 }), ok);
    assert.deepEqual(run([FIXTURE], { TENANTRY_AUDIT_KEY: hex.toUpperCase().replace("HEX:", "hex:") }), ok);
    assert.deepEqual(run([FIXTURE, "--key-file", file(`${KEY}\n`)], {}), ok);
    assert.deepEqual(run([FIXTURE, "--key-file", file(`${b64}\r\n`)], {}), ok);
    // As `npx tenantry verify-audit <file>` passes it.
    assert.deepEqual(run(["verify-audit", FIXTURE]), ok);
  });

  test("key order, spacing and line endings do not matter", () => {
    const reorder = (v) =>
      v !== null && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).reverse().map((k) => [k, reorder(v[k])]))
        : Array.isArray(v)
          ? v.map(reorder)
          : v;
    const text = LINES.map((l) => ` ${JSON.stringify(reorder(JSON.parse(l))).replaceAll('","', '", "')} \r\n`);
    assert.deepEqual(run([file(text.join(""))]), { code: 0, out: bareOk(9), err: "" });
  });

  test("a truncated tail verifies on its own, and the run says what it could not check", () => {
    assert.deepEqual(run([linesFile(LINES.slice(0, 5))]), { code: 0, out: bareOk(5), err: "" });
  });
});

describe("verify-audit against what the operator recorded", () => {
  test("an empty file fails unless --expect-count 0", () => {
    const empty = file("");
    assert.deepEqual(run([empty]), {
      code: 1,
      out: "no entries: nothing verified (pass --expect-count 0 if an empty log is expected)\n",
      err: "",
    });
    assert.deepEqual(run([empty, "--expect-count", "0"]), {
      code: 0,
      out: "ok: 0 entries verified\ncount: 0 as expected\n",
      err: "",
    });
    assert.deepEqual(run([empty, "--expect-count", "9"]), {
      code: 1,
      out: "count mismatch: 0 entries verified, expected 9 (entries were cut from the end, or the log was replaced)\n",
      err: "",
    });
    assert.deepEqual(run([empty, "--expect-count", "0", "--expect-last", LAST_MAC]), {
      code: 1,
      out: "last entry mismatch: the log has no entries, expected one with the given mac\n",
      err: "",
    });
  });

  test("the recorded count and last mac pass the intact log", () => {
    const r = run([FIXTURE, "--expect-count", "9", "--expect-last", LAST_MAC]);
    assert.deepEqual(r, {
      code: 0,
      out: `ok: 9 entries verified\nlast entry: line 9, seq 8, mac ${LAST_MAC}\ncount: 9 as expected\nlast mac: as expected\n`,
      err: "",
    });
    // The count alone cannot tell a replaced log of the same length, and says so.
    assert.match(
      run([FIXTURE, "--expect-count=9"]).out,
      /count: 9 as expected\nnot checked: a whole log replaced by another valid chain of 9 entries under the same key/,
    );
  });

  test("entries cut from the end fail either expectation", () => {
    const cut = linesFile(LINES.slice(0, 5));
    assert.deepEqual(run([cut, "--expect-count", "9"]), {
      code: 1,
      out: "count mismatch: 5 entries verified, expected 9 (entries were cut from the end, or the log was replaced)\n",
      err: "",
    });
    assert.deepEqual(run([cut, "--expect-last", LAST_MAC]), {
      code: 1,
      out: "last entry mismatch: no entry has the expected mac (entries were cut from the end, or the log was replaced by another chain)\n",
      err: "",
    });
    // A log that grew since the mac was recorded names where the recorded entry is.
    const r = run([FIXTURE, "--expect-last", macOf(LINES[4])]);
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      "last entry mismatch: the expected last entry is line 5, but the log goes on to line 9 (entries were added since it was recorded)\n",
    );
    assert.equal(run([FIXTURE, "--expect-count", "5"]).code, 1);
  });

  test("a log swapped for another valid chain under the same key fails --expect-last", () => {
    // Another chain under the same key, of the same length: every entry re-signed, as
    // whoever holds the key could produce.
    const other = resign(LINES.map((l) => ({ ...JSON.parse(l), data: { swapped: true } })));
    other.forEach((l, i) => assert.notEqual(macOf(l), macOf(LINES[i])));
    const swapped = linesFile(other);
    assert.deepEqual(run([swapped]), { code: 0, out: bareOk(9, other), err: "" });
    assert.equal(run([swapped, "--expect-count", "9"]).code, 0);
    assert.deepEqual(run([swapped, "--expect-count", "9", "--expect-last", LAST_MAC]), {
      code: 1,
      out: "last entry mismatch: no entry has the expected mac (entries were cut from the end, or the log was replaced by another chain)\n",
      err: "",
    });
  });
});

describe("verify-audit on a tampered log", () => {
  test("modified data", () => {
    const lines = [...LINES];
    lines[3] = lines[3].replace('"tool":"fs.read"', '"tool":"fs.write"');
    assertBroken(linesFile(lines), "broken at line 4 (seq 3): inserted or modified entry (MAC mismatch)");
  });

  test("modified userId, to another user or to anonymous", () => {
    for (const user of ['"mallory"', "null", '"carol "']) {
      const lines = [...LINES];
      lines[4] = lines[4].replace('"userId":"carol"', `"userId":${user}`);
      assert.notEqual(lines[4], LINES[4]);
      assertBroken(linesFile(lines), "broken at line 5 (seq 4): inserted or modified entry (MAC mismatch)");
    }
  });

  test("deleted line", () => {
    const lines = LINES.filter((_, i) => i !== 2);
    assertBroken(linesFile(lines), "broken at line 3 (seq 3): deleted entry (seq gap: expected 2, found 3)");
  });

  test("reordered lines", () => {
    const lines = [...LINES];
    [lines[2], lines[3]] = [lines[3], lines[2]];
    assertBroken(
      linesFile(lines),
      "broken at line 3 (seq 3): reordered entry (expected seq 2, found 3; seq 2 comes later)",
    );
    const replayed = [...LINES.slice(0, 4), LINES[1], ...LINES.slice(4)];
    assertBroken(
      linesFile(replayed),
      "broken at line 5 (seq 1): reordered or replayed entry (expected seq 4, found 1)",
    );
  });

  test("inserted forged entry", () => {
    const forged = JSON.parse(LINES[2]);
    forged.userId = "mallory";
    forged.prev = JSON.parse(LINES[1]).mac;
    const { mac, ...signed } = forged;
    forged.mac = createHmac("sha256", "attacker-key-0123456789").update(JSON.stringify(signed)).digest("hex");
    assert.notEqual(forged.mac, mac);
    const lines = [...LINES.slice(0, 2), JSON.stringify(forged), ...LINES.slice(2)];
    assertBroken(linesFile(lines), "broken at line 3 (seq 2): inserted or modified entry (MAC mismatch)");
  });

  test("wrong key", () => {
    const secret = "not-the-key-0123456789abcdef";
    const r = run([FIXTURE], { TENANTRY_AUDIT_KEY: secret });
    assert.equal(r.code, 1);
    assert.equal(
      r.out,
      "broken at line 1 (seq 0): wrong key (the first entry's MAC fails and no entry verifies with this key)\n",
    );
    assert.ok(!r.out.includes(secret) && !r.err.includes(secret));
  });

  test("malformed lines, after any earlier break", () => {
    const lines = [...LINES];
    lines[5] = "{not json";
    const r = run([linesFile(lines)]);
    assert.equal(r.code, 1);
    assert.match(r.out, /^broken at line 6 \(seq \?\): malformed entry: not JSON/);
    lines[5] = "";
    assert.match(run([linesFile(lines)]).out, /^broken at line 6 \(seq \?\): malformed entry: not JSON/);
    lines[5] = LINES[5].replace('"seq":5', '"seq":5,"x":1');
    assertBroken(linesFile(lines), 'broken at line 6 (seq 5): malformed entry: unknown field "x"');
    lines[5] = LINES[5].replace('"sessions":["s1"]', '"s":"\\ud800"');
    assert.match(run([linesFile(lines)]).out, /^broken at line 6 \(seq \?\): malformed entry: not JSON: lone surrogate/);
    lines[5] = LINES[5].replace('"sessions":["s1"]', '"n":1e400');
    assert.match(run([linesFile(lines)]).out, /^broken at line 6 \(seq \?\): malformed entry: not JSON/);
    lines[5] = LINES[5].replace('"sessions":["s1"]', `"n":${"[".repeat(70)}${"]".repeat(70)}`);
    assert.match(run([linesFile(lines)]).out, /^broken at line 6 \(seq \?\): malformed entry: not JSON: arrays and objects nest deeper than 64/);
    lines[1] = LINES[1].replace('"neg":-42', '"neg":-43');
    assertBroken(linesFile(lines), "broken at line 2 (seq 1): inserted or modified entry (MAC mismatch)");
    const bytes = Buffer.concat([Buffer.from(LINES[0].slice(0, 3)), Buffer.from([0xff]), Buffer.from(LINES[0].slice(3))]);
    assertBroken(file(bytes), "broken at line 1 (seq ?): malformed entry: not valid UTF-8");
  });
});

describe("verify-audit on a line naming a key twice", () => {
  // The signed value last (what JSON.parse keeps, so the MAC would verify), a forged one
  // first (what a first-wins reader acts on). src/audit/jsonl.rs expects the same words.
  const cases = [
    ["top-level userId", 4, '"userId":"carol"', '"userId":"mallory","userId":"carol"', "userId"],
    ["a key inside data", 3, '"tool":"fs.read"', '"tool":"fs.write","tool":"fs.read"', "tool"],
    ["a key spelled with an escape, nested in an array", 3, '"z":1}', '"z":0,"\\u007a":1}', "z"],
  ];
  for (const [name, index, from, to, key] of cases) {
    test(name, () => {
      const lines = [...LINES];
      lines[index] = LINES[index].replace(from, to);
      assert.notEqual(lines[index], LINES[index]);
      // The line JSON.parse reads is exactly the signed one: only the duplicate gives it away.
      assert.deepEqual(JSON.parse(lines[index]), JSON.parse(LINES[index]));
      assertBroken(linesFile(lines), `broken at line ${index + 1} (seq ?): malformed entry: duplicate key "${key}"`);
      // Expectations do not turn a broken log into a mismatch: the break is reported.
      const r = run([linesFile(lines), "--expect-count", "9", "--expect-last", LAST_MAC]);
      assert.equal(r.code, 1);
      assert.match(r.out, /^broken at line/);
    });
  }

  test("the same key in different objects is no duplicate", () => {
    const nested = { a: { a: 1 }, b: [{ a: 1 }, { a: 2 }], "a ": 3, A: 4 };
    const lines = resign(LINES.map((l) => ({ ...JSON.parse(l), data: nested })));
    assert.deepEqual(run([linesFile(lines)]), { code: 0, out: bareOk(9, lines), err: "" });
  });
});

describe("verify-audit usage errors exit 2", () => {
  const cases = [
    ["no file", [], undefined, /missing <file.jsonl>/],
    ["two files", [FIXTURE, FIXTURE], undefined, /expected one file/],
    ["unknown option", [FIXTURE, "--nope"], undefined, /nope/],
    ["both key options", [FIXTURE, "--key-env", "A", "--key-file", FIXTURE], undefined, /either/],
    ["unset variable", [FIXTURE], {}, /TENANTRY_AUDIT_KEY is not set/],
    ["empty key", [FIXTURE], { TENANTRY_AUDIT_KEY: "" }, /key is required/],
    ["short key", [FIXTURE], { TENANTRY_AUDIT_KEY: "short-secret" }, /at least 16 bytes, got 12/],
    ["bad hex", [FIXTURE], { TENANTRY_AUDIT_KEY: "hex:zz00112233445566778899aabbccddeeff" }, /hex/],
    ["bad base64", [FIXTURE], { TENANTRY_AUDIT_KEY: "base64:dGVzdC1rZXktMDEy?zQ1Njc4OWFiY2RlZg==" }, /base64/],
    ["missing file", [join(dir, "absent.jsonl")], undefined, /cannot read .*ENOENT/],
    ["missing key file", [FIXTURE, "--key-file", join(dir, "absent.key")], {}, /cannot read key file/],
    ["count not a number", [FIXTURE, "--expect-count", "nine"], undefined, /--expect-count must be a whole number/],
    ["negative count", [FIXTURE, "--expect-count=-1"], undefined, /--expect-count must be a whole number/],
    ["count with a fraction", [FIXTURE, "--expect-count", "9.0"], undefined, /--expect-count must be a whole number/],
    ["last not a mac", [FIXTURE, "--expect-last", "abc"], undefined, /--expect-last must be an entry's mac/],
    ["last in uppercase", [FIXTURE, "--expect-last", LAST_MAC.toUpperCase()], undefined, /--expect-last must be an entry's mac/],
  ];
  for (const [name, args, env, want] of cases) {
    test(name, () => {
      const r = run(args, env);
      assert.equal(r.code, 2, r.out + r.err);
      assert.equal(r.out, "");
      assert.match(r.err, want);
      assert.match(r.err, /usage: verify-audit <file.jsonl>/);
      assert.ok(!r.err.includes("short-secret") && !r.err.includes("zz0011"), r.err);
    });
  }

  test("--help prints the usage and exits 0", () => {
    const r = run(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: verify-audit/);
    // It says what a bare run cannot detect, and how to detect it.
    assert.match(r.out, /--expect-count N/);
    assert.match(r.out, /--expect-last MAC/);
    assert.match(r.out, /cut from the end/);
    assert.match(r.out, /replaced by\s+another valid chain under the same key/);
  });
});
