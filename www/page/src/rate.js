// The in-browser agent enforces its rate limit (a token bucket per user) but reports no
// bucket state: `usage()` covers budgets only. So the page keeps a mirror of each tenant's
// bucket, fed with every request it sends, to show "N of M left" before a refusal; the
// agent's own `rate_limited` error (and its retryAfterMs) stays the authority and resyncs it.
export class BucketMirror {
  constructor({ requests, perMs, burst = requests }, now = () => Date.now()) {
    this.capacity = burst;
    this.ratePerMs = requests / perMs;
    this.now = now;
    this.tokens = burst;
    this.at = now();
    this.blockedUntil = 0;
  }

  refill() {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.at) * this.ratePerMs);
    this.at = t;
  }

  /** A request sent: the agent takes its token when the run is called, before any work. */
  took() {
    this.refill();
    this.tokens = Math.max(0, this.tokens - 1);
  }

  /** Gives back a request the agent turned away before its bucket (bad input, a refusal). */
  refund() {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + 1);
  }

  /** The agent refused a request: no whole token until `retryAfterMs` from now. */
  refused(retryAfterMs) {
    this.refill();
    this.tokens = Math.min(this.tokens, 0.999);
    this.blockedUntil = this.now() + retryAfterMs;
  }

  /** { remaining (whole requests), capacity, retryInMs (0 when not blocked) } */
  state() {
    this.refill();
    return {
      remaining: Math.floor(this.tokens),
      capacity: this.capacity,
      retryInMs: Math.max(0, this.blockedUntil - this.now()),
    };
  }
}
