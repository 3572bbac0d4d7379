// `durableObjectStorage(ctx.storage)`: tenantry's storage adapter ({ get, put, delete,
// list(prefix) }) over Durable Object storage. Plain JS over the storage API, so every entry
// exports it, though only a Durable Object has a `ctx.storage` to give it.
//
// One tenantry record can outgrow one Durable Object entry (128 KiB per value on
// key-value-backed objects, 2 MB on SQLite-backed ones; a session of 100 messages of up to
// 64 KiB each is several MB). Such a value is kept as a head `{ chunks: n }` plus n pieces
// in a namespace of their own, written together so that a reader sees the old record or
// the new one, never a mix.
import { __tenantryErrorClass } from "./tenantry.js";

const VALUE = "v/"; // whole values (strings), or the head of a chunked one
const CHUNK = "c/"; // the pieces of chunked values: never listed, reached through a head
// UTF-16 code units per piece: at most 64 KiB serialized, under both limits.
const CHUNK_CHARS = 32 * 1024;
// Most keys one get/put/delete call takes.
const BATCH = 128;
// A piece of 64 Ki UTF-16 units is 128 KiB serialized at most: the smaller of the limits.
const MAX_CHUNK_CHARS = 64 * 1024;
const METHODS = ["get", "put", "delete", "list"];

// Looked up when needed rather than at import: the wasm is instantiated by the entry that
// imports this module, after this module has been evaluated.
const configError = (field, reason) => {
  const TenantryError = __tenantryErrorClass();
  return new TenantryError("invalid_config", `invalid config \`${field}\`: ${reason}`, { field, reason });
};

export function durableObjectStorage(storage, options = {}) {
  if (storage === null || typeof storage !== "object" || !METHODS.every((m) => typeof storage[m] === "function")) {
    throw configError("storage", "must be Durable Object storage (ctx.storage): an object with get, put, delete and list");
  }
  if (options === null || typeof options !== "object") throw configError("options", "must be an object");
  const { chunkChars = CHUNK_CHARS } = options;
  if (!Number.isInteger(chunkChars) || chunkChars < 2 || chunkChars > MAX_CHUNK_CHARS) {
    throw configError("options.chunkChars", `must be an integer from 2 to ${MAX_CHUNK_CHARS}`);
  }
  const pieceKey = (key, i) => `${CHUNK}${key}#${i}`;
  const piecesOf = (head) => (head !== null && typeof head === "object" && Number.isInteger(head.chunks) ? head.chunks : 0);
  const inBatches = (keys) => Array.from({ length: Math.ceil(keys.length / BATCH) }, (_, i) => keys.slice(i * BATCH, (i + 1) * BATCH));

  // How many pieces each key has in storage, as last written or read. The adapter is its
  // keys' only writer, so this stays true, and saves a read before every write. Set
  // synchronously when writes are issued, so interleaved writes of one key agree on it.
  const pieceCounts = new Map();
  // Fills in the count from storage when this adapter has not seen the key yet. A caller
  // reads pieceCounts itself right after awaiting this: writes of the key issued while it
  // waited are newer than what storage said, and have set the count already.
  const learnPieces = async (key) => {
    const n = piecesOf(await storage.get(VALUE + key));
    if (!pieceCounts.has(key)) pieceCounts.set(key, n);
  };
  const settle = async (key, writes) => {
    try {
      await Promise.all(writes);
    } catch (err) {
      pieceCounts.delete(key); // unknown now: read it again next time
      throw err;
    }
  };

  return {
    async get(key) {
      const head = await storage.get(VALUE + key);
      if (!pieceCounts.has(key)) pieceCounts.set(key, piecesOf(head));
      if (head === undefined || head === null) return null;
      if (typeof head === "string") return head;
      const n = piecesOf(head);
      if (n === 0) throw new Error(`record ${JSON.stringify(key)} is neither a string nor a chunk head`);
      const keys = Array.from({ length: n }, (_, i) => pieceKey(key, i));
      const found = new Map();
      for (const batch of inBatches(keys)) for (const [k, v] of await storage.get(batch)) found.set(k, v);
      return keys
        .map((k) => {
          const piece = found.get(k);
          if (typeof piece !== "string") throw new Error(`record ${JSON.stringify(key)} is missing a piece`);
          return piece;
        })
        .join("");
    },

    async put(key, value) {
      while (!pieceCounts.has(key)) await learnPieces(key);
      const stale = pieceCounts.get(key);
      const entries = {};
      let pieces = 0;
      if (value.length <= chunkChars) {
        entries[VALUE + key] = value;
      } else {
        for (let at = 0; at < value.length; ) {
          let end = Math.min(at + chunkChars, value.length);
          // Never split a surrogate pair across two pieces.
          const last = value.charCodeAt(end - 1);
          if (end < value.length && end - 1 > at && last >= 0xd800 && last <= 0xdbff) end -= 1;
          entries[pieceKey(key, pieces++)] = value.slice(at, end);
          at = end;
        }
        entries[VALUE + key] = { chunks: pieces };
      }
      const gone = [];
      for (let i = pieces; i < stale; i++) gone.push(pieceKey(key, i));
      // Issued without an await in between, so Durable Object storage commits them as one
      // atomic write (write coalescing).
      const writes = [];
      const names = Object.keys(entries);
      for (const batch of inBatches(names)) writes.push(storage.put(Object.fromEntries(batch.map((k) => [k, entries[k]]))));
      for (const batch of inBatches(gone)) writes.push(storage.delete(batch));
      pieceCounts.set(key, pieces);
      await settle(key, writes);
    },

    async delete(key) {
      while (!pieceCounts.has(key)) await learnPieces(key);
      const n = pieceCounts.get(key);
      const keys = [VALUE + key, ...Array.from({ length: n }, (_, i) => pieceKey(key, i))];
      const writes = inBatches(keys).map((batch) => storage.delete(batch));
      pieceCounts.set(key, 0);
      await settle(key, writes);
    },

    async list(prefix) {
      const found = await storage.list({ prefix: VALUE + prefix });
      return [...found.keys()].map((k) => k.slice(VALUE.length));
    },
  };
}
