// Storage adapters shipped with tenantry. An adapter is any object with async
// get(key) -> string | null, put(key, value), delete(key), list(prefix) -> string[].

/** Keeps everything in a Map: for tests, and for sharing one store between agents. */
export function memoryStorage() {
  const map = new Map();
  return {
    async get(key) {
      return map.has(key) ? map.get(key) : null;
    },
    async put(key, value) {
      map.set(key, value);
    },
    async delete(key) {
      map.delete(key);
    },
    async list(prefix) {
      return [...map.keys()].filter((k) => k.startsWith(prefix));
    },
  };
}

/** Persists in the browser's IndexedDB, in one object store of database `name`. */
export function indexedDbStorage(name = "tenantry") {
  if (typeof indexedDB === "undefined") {
    throw new Error("indexedDbStorage needs IndexedDB (a browser or a worker with it)");
  }
  let opened;
  const db = () =>
    (opened ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("kv");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }));
  // One transaction per call: it commits (or fails) before the promise settles, so a
  // write tenantry was told succeeded is durable.
  const tx = async (mode, body) => {
    const store = (await db()).transaction("kv", mode).objectStore("kv");
    return new Promise((resolve, reject) => {
      const out = body(store, resolve, reject);
      store.transaction.oncomplete = () => resolve(out?.result);
      store.transaction.onerror = () => reject(store.transaction.error);
      store.transaction.onabort = () => reject(store.transaction.error ?? new Error("transaction aborted"));
    });
  };
  return {
    get: (key) => tx("readonly", (s) => s.get(key)).then((v) => v ?? null),
    put: (key, value) => tx("readwrite", (s) => s.put(value, key)).then(() => undefined),
    delete: (key) => tx("readwrite", (s) => s.delete(key)).then(() => undefined),
    list: (prefix) =>
      tx("readonly", (s) => {
        // A key cursor from the prefix on, stopped at the first key outside it: exact for
        // any key, where an upper bound like prefix + "\uffff" is not.
        const keys = [];
        const req = s.openKeyCursor(IDBKeyRange.lowerBound(prefix));
        req.onsuccess = () => {
          const c = req.result;
          if (c && typeof c.key === "string" && c.key.startsWith(prefix)) {
            keys.push(c.key);
            c.continue();
          }
        };
        return { get result() { return keys; } };
      }),
  };
}
