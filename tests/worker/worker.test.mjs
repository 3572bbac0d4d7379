// The demo Worker under workerd (Miniflare), bundled against the packed npm package exactly
// as `npm start` bundles it: two users through POST /chat stay apart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { installedPackage, root } from "../support/package.mjs";
import { bundleWorker, startWorker } from "../../scripts/worker.mjs";

let mf;
let origin;

before(async () => {
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({ modulesDir, outdir: join(root, "target", "worker-test-dist") });
  const started = await startWorker({ scriptPath, port: 0 });
  mf = started.mf;
  origin = started.url.origin;
});

after(async () => {
  await mf?.dispose();
});

async function chat(body) {
  const res = await fetch(`${origin}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test("two users through POST /chat: each is remembered, neither sees the other", async () => {
  let r = await chat({ user_id: "alice", message: "My name is Alice" });
  assert.equal(r.status, 200);
  assert.equal(r.body.user_id, "alice");
  assert.match(r.body.run_id, /^run_[0-9a-f]{24}$/);
  r = await chat({ user_id: "bob", message: "My name is Bob" });
  assert.equal(r.status, 200);
  const [alice, bob, carol] = await Promise.all([
    chat({ user_id: "alice", message: "What's my name?" }),
    chat({ user_id: "bob", message: "What's my name?" }),
    chat({ user_id: "carol", message: "What's my name?" }),
  ]);
  assert.equal(alice.body.response, "Your name is Alice.");
  assert.equal(bob.body.response, "Your name is Bob.");
  assert.doesNotMatch(carol.body.response, /Alice|Bob/);
  assert.ok(alice.body.usage.totalTokens > 0);

  const history = await (await fetch(`${origin}/history?user_id=alice`)).json();
  assert.deepEqual(
    history.history.map((m) => m.content),
    ["My name is Alice", "Nice to meet you, Alice! I'll remember your name.", "What's my name?", "Your name is Alice."],
  );
  // The same session id under another user is another conversation.
  const other = await chat({ user_id: "alice ", message: "What's my name?", session_id: "default" });
  assert.doesNotMatch(other.body.response, /Alice/);
});

test("bad requests get clear JSON errors and change nothing", async () => {
  const before = await (await fetch(`${origin}/history?user_id=dave`)).json();
  let r = await chat({ user_id: "", message: "hi" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_user_id");
  r = await chat({ user_id: "dave", message: 7 });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_input");
  r = await chat("{not json");
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_json");
  r = await chat({ user_id: "dave", message: "x".repeat(70 * 1024) });
  assert.equal(r.status, 413);
  const res = await fetch(`${origin}/nope`);
  assert.equal(res.status, 404);
  const afterwards = await (await fetch(`${origin}/history?user_id=dave`)).json();
  assert.deepEqual(afterwards, before);
  assert.deepEqual(afterwards.history, []);
});
