// Each tenant's request meter: a token bucket of RATE_LIMIT_REQUESTS per
// RATE_LIMIT_WINDOW_MS (RATE_LIMIT_BURST deep) that every request for the tenant draws on,
// reads and erasure included. It lives in the tenant object's own storage under a key that
// the package's durableObjectStorage adapter ("v/" and "c/" keys only) never writes, lists or
// deletes, so erasing the tenant cannot refill it: what was spent while its window is open
// keeps counting. It holds two numbers and no content; after an erasure it is dropped once
// the bucket is full again (an absent record already means a full bucket).
import { HttpError, positiveVar } from "./http.js";

export const METER_KEY = "meter/requests";

/** The bucket's shape from the Worker's vars (default 30 a minute, as deep as the rate). */
export function rateConfig(env) {
  const requests = positiveVar(env, "RATE_LIMIT_REQUESTS", 30);
  const perMs = positiveVar(env, "RATE_LIMIT_WINDOW_MS", 60_000);
  const burst = positiveVar(env, "RATE_LIMIT_BURST", requests);
  return { requests, perMs, burst };
}

function validState(value) {
  return value !== null && typeof value === "object" && Number.isFinite(value.tokens) && Number.isFinite(value.at);
}

export class Meter {
  constructor(storage, config) {
    this.storage = storage;
    this.config = config;
    this.state = undefined; // { tokens, at } once read; null for a full bucket
    this.loading = undefined;
  }

  // Read once per object; every request after that updates the copy in memory without an
  // await between reading and spending, so concurrent requests cannot spend one token twice.
  async load() {
    this.loading ??= this.storage.get(METER_KEY).then((value) => {
      this.state ??= validState(value) ? value : null;
    });
    await this.loading;
  }

  /** Tokens in the bucket at `now`. */
  level(now) {
    const { requests, perMs, burst } = this.config;
    if (!this.state) return burst;
    // A clock that went back refills nothing.
    const elapsed = Math.max(0, now - this.state.at);
    return Math.min(burst, this.state.tokens + (elapsed * requests) / perMs);
  }

  /** When the bucket is full again, if nothing more is spent. */
  fullAt(now) {
    const { requests, perMs, burst } = this.config;
    return now + Math.max(0, ((burst - this.level(now)) * perMs) / requests);
  }

  /** Spends one request, or throws a 429 `rate_limited` saying how long to wait. */
  async take(now = Date.now()) {
    await this.load();
    const level = this.level(now);
    if (level < 1) {
      const { requests, perMs, burst } = this.config;
      const retryAfterMs = Math.max(1, Math.ceil(((1 - level) * perMs) / requests));
      throw new HttpError(429, "rate_limited", `rate limited: retry after ${retryAfterMs} ms`, {
        retryAfterMs,
        limit: { requests, perMs, burst },
      });
    }
    this.state = { tokens: level - 1, at: now };
    await this.storage.put(METER_KEY, { ...this.state });
  }

  /** The bucket's standing, for the usage report. */
  report(now = Date.now()) {
    const { requests, perMs, burst } = this.config;
    return { requests, perMs, burst, available: Math.floor(this.level(now)) };
  }

  /** Drops the record if the bucket is full; otherwise the time to look again. */
  async dropIfFull(now = Date.now()) {
    await this.load();
    if (this.level(now) >= this.config.burst) {
      this.state = null;
      await this.storage.delete(METER_KEY);
      return undefined;
    }
    return this.fullAt(now);
  }
}
