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

function assertBroken(path, want, env) {
  const r = run([path], env);
  assert.equal(r.out, `${want}\n`, r.err);
  assert.equal(r.code, 1);
}

describe("verify-audit on an intact log", () => {
  test("verifies the Rust-written fixture", () => {
    assert.equal(LINES.length, 9);
    const r = run([FIXTURE]);
    assert.deepEqual(r, { code: 0, out: "ok: 9 entries verified\n", err: "" });
  });

  test("takes the key from another variable, a file, hex: or base64:", () => {
    const hex = `hex:${Buffer.from(KEY).toString("hex")}`;
    const b64 = `base64:${Buffer.from(KEY).toString("base64")}`;
    const ok = { code: 0, out: "ok: 9 entries verified\n", err: "" };
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
    assert.deepEqual(run([file(text.join(""))]), { code: 0, out: "ok: 9 entries verified\n", err: "" });
  });

  test("a truncated tail verifies, and the count shows it", () => {
    assert.equal(run([linesFile(LINES.slice(0, 5))]).out, "ok: 5 entries verified\n");
    assert.equal(run([file("")]).out, "ok: 0 entries verified\n");
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
  });
});
