// The one error class of tenantry. Defined in JS so it is a real `Error` subclass with a
// stack, `instanceof` works for users, and the wasm side constructs it through makeError.
export class TenantryError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "TenantryError";
    this.code = code;
    this.details = details ?? {};
  }
}

export function makeError(code, message, details) {
  return new TenantryError(code, message, details);
}

export function errorClass() {
  return TenantryError;
}
