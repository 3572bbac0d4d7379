// The large inputs of durable-storage.test.mjs, built the same way by the test and by its
// Worker so that megabytes of text need not cross either boundary to be compared.

/**
 * Message `i`: ~900 KB of Latin-1 text (one byte a character in Durable Object storage's
 * serialization, 984,000 bytes of UTF-8: under the 1 MiB input cap), or with `astral`
 * 450,002 characters holding surrogate pairs (787,502 bytes of UTF-8), which make it and the
 * whole record that holds it two bytes a character: ~900 KB too.
 */
export function bigMessage(i, { astral = false } = {}) {
  return astral ? `${i} ${"x\u{1F980}\u00e9".repeat(112_500)}` : `${i} ${"tenantry \u00e9 ".repeat(82_000)}`;
}
