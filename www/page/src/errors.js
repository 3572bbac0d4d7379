// One error shape for both modes: a TenantryError from the in-browser agent and the
// Worker's `{ error: { code, message, details } }` bodies both become a DemoError.
export class DemoError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.code = code;
    this.details = details ?? {};
  }

  get retryAfterMs() {
    const ms = Number(this.details.retryAfterMs);
    return Number.isFinite(ms) ? ms : undefined;
  }

  static from(err) {
    if (err instanceof DemoError) return err;
    if (err && typeof err === "object" && typeof err.code === "string") return new DemoError(err.code, err.message, err.details);
    return new DemoError("internal", String(err?.message ?? err));
  }
}

/** The words a tenant sees for an error. */
export function describeError(err) {
  const e = DemoError.from(err);
  switch (e.code) {
    case "rate_limited": {
      const s = Math.max(1, Math.ceil((e.retryAfterMs ?? 1000) / 1000));
      return `Rate limited, retry in ${s} s.`;
    }
    case "budget_exceeded": {
      const d = e.details;
      const whose = d.scope === "org" ? " (the org's ceiling, shared by all its users)" : d.scope === "global" ? " (the agent's global ceiling)" : "";
      return `Budget exceeded${whose}: ${d.metric ?? "tokens"} per ${d.window ?? "window"} (${d.used ?? "?"} used of ${d.limit ?? "?"}). Nothing was kept.`;
    }
    default:
      return `${e.code}: ${e.message}`;
  }
}
