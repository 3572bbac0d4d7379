// The one error class of tenantry. Defined in JS so it is a real `Error` subclass with a
// stack, `instanceof` works for users, and the wasm side constructs it through makeError.
export class TenantryError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "TenantryError";
    this.code = code;
    this.details = details ?? {};
  }

  /**
   * `error` as a TenantryError again after a trip that keeps an error's own properties but
   * not its class: a throw across Workers RPC (a Durable Object's method) with workerd's
   * enhanced error serialization delivers a plain `Error` whose `name`, `code` and
   * `details` are still there. Undefined for anything else, including an RPC error under
   * legacy serialization, which keeps only the text.
   */
  static from(error) {
    if (error instanceof TenantryError) return error;
    if (error === null || typeof error !== "object") return undefined;
    let name, code, message, details, stack, remote;
    try {
      ({ name, code, message, details, stack, remote } = error);
    } catch {
      return undefined;
    }
    if (name !== "TenantryError" || typeof code !== "string" || typeof message !== "string") return undefined;
    if (details !== undefined && (details === null || typeof details !== "object")) return undefined;
    const revived = new TenantryError(code, message, details);
    // The received error's stack is where the caller awaited the call: more use than this line.
    if (typeof stack === "string") revived.stack = stack;
    if (remote === true) revived.remote = true;
    return revived;
  }
}

export function makeError(code, message, details) {
  return new TenantryError(code, message, details);
}

export function errorClass() {
  return TenantryError;
}
