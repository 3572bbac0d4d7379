// durableObjectStorage(ctx.storage) under workerd, in a Durable Object of a test Worker
// (durable-storage-worker.js): sessions of several ~900 KB messages, far past one storage
// value's 2 MB, are kept and read back whole after a restart of the runtime, where the same
// agent over plain ctx.storage fails; and the adapter's keys in raw storage after list,
// delete, shrinking overwrites and concurrent writes.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker } from "../../scripts/worker.mjs";
import { stateDir } from "./support.mjs";

let scriptPath;

before(async () => {
  const { modulesDir } = installedPackage();
  scriptPath = await bundleWorker({
    modulesDir,
    outdir: join(root, "target", "worker-test-durable-storage"),
    entry: join(root, "tests", "worker", "durable-storage-worker.js"),
  });
});

async function startStore(persist) {
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    durableObjects: { STORE: { className: "Store", useSQLite: true } },
    compatibilityDate: "2026-04-21",
    ...(persist ? { durableObjectsPersist: persist } : {}),
  });
  await mf.ready;
  const call = async (method, ...args) => {
    const res = await mf.dispatchFetch(`http://worker.test/call/${method}`, { method: "POST", body: JSON.stringify(args) });
    return res.json();
  };
  return { call, dispose: () => mf.dispose() };
}

// Four ~900 KB turns, the last with surrogate pairs: ~3.2 M characters of user text in one
// session record, which is then two bytes a character in storage (~6.3 MB).
const SPECS = [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3, astral: true }];

test("a session of four ~900 KB messages survives a restart whole; plain ctx.storage fails at the third", async () => {
  const state = stateDir();
  let store = await startStore(state.dir);
  try {
    assert.deepEqual(await store.call("runBig", "ada", SPECS), { value: { completed: 4 } });
    // The agent without chunking, in the same object: the second turn's record (~1.8 MB)
    // still fits one value, the third's (~2.7 MB) does not.
    const naive = (await store.call("runBig", "bob", SPECS, { naive: true })).value;
    assert.equal(naive.completed, 2);
    assert.equal(naive.error.code, "storage");
    assert.equal(naive.error.isTenantryError, true);
    assert.match(naive.error.message, /SQLITE_TOOBIG|too big|too large/i);
  } finally {
    await store.dispose();
  }
  store = await startStore(state.dir);
  try {
    const read = (await store.call("historyMatches", "ada", SPECS)).value;
    assert.deepEqual(read, { count: 4, chars: 3 * 902_002 + 450_002, equal: true });
    // Nothing but the adapter's two namespaces in the object.
    const keys = (await store.call("rawKeys")).value;
    assert.ok(keys.some((k) => k.startsWith("c/")), "no piece was written");
    assert.deepEqual(keys.filter((k) => !k.startsWith("v/") && !k.startsWith("c/") && !k.includes("bob")), []);
  } finally {
    await store.dispose();
    state.cleanup();
  }
});

test("list by prefix, delete, shrinking overwrites and concurrent writes leave raw storage consistent", async () => {
  const store = await startStore();
  try {
    const out = (await store.call("adapterChecks")).value;
    assert.deepEqual(out.listA, ["a/1", "a/2"]);
    assert.deepEqual(out.listAb, ["ab/3"]);
    assert.deepEqual(out.listAll, ["a/1", "a/2", "ab/3", "b/1"]);
    assert.equal(out.a2, true);
    // 200,000 characters: a head and ceil(200,000 / 32,768) = 7 pieces.
    assert.equal(out.goneBefore, 8);
    assert.deepEqual(out.goneAfter, []);
    assert.equal(out.goneGet, null);
    assert.equal(out.shrinkBefore, 8);
    assert.deepEqual(out.shrinkAfter, ["v/shrink"]);
    assert.deepEqual(out.shrink2After, ["v/shrink2"]);
    assert.equal(out.shrink2Get, "small too");
    for (const label of ["warm", "cold"]) {
      const race = out[label];
      assert.ok(race.index >= 0, `${label}: the value read is none of those written`);
      assert.equal(race.sameFromFresh, true, label);
      assert.equal(race.pieces, race.headPieces, `${label}: ${race.pieces} pieces stored for a head of ${race.headPieces}`);
      // Issued in order, the last write wins.
      assert.equal(race.index, 5, label);
    }
  } finally {
    await store.dispose();
  }
});

test("anything but Durable Object storage, or a piece size out of range, is invalid_config", async () => {
  const store = await startStore();
  try {
    for (const [which, field] of [["map", "storage"], ["none", "storage"], ["noList", "storage"], ["chunk", "options.chunkChars"]]) {
      const { error } = await store.call("invalid", which);
      assert.equal(error?.code, "invalid_config", which);
      assert.equal(error.isTenantryError, true, which);
      assert.equal(error.details.field, field, which);
    }
  } finally {
    await store.dispose();
  }
});
