import { demo } from "./app.js";

demo().then(
  (result) => (globalThis.tenantryResult = result),
  (e) => (globalThis.tenantryResult = { failed: String(e) }),
);
