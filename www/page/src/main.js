// The demo page: tenants side by side (users of the default org, or of named orgs, each
// org with a card of its own), one agent, a toggle for where that agent runs (this tab's
// wasm, or the demo Worker on this origin), and the model settings.
import { BrowserBackend } from "./browser-backend.js";
import { DemoError, describeError } from "./errors.js";
import { utf8Bytes } from "./dom.js";
import { OrgCard } from "./org-card.js";
import { TenantPanel } from "./tenant-panel.js";
import { whoKey } from "./identity.js";
import { WorkerBackend } from "./worker-backend.js";
import { SocketBackend } from "./ws-backend.js";
import { whoLabel } from "./identity.js";

const $ = (sel) => document.querySelector(sel);
const status = $("#status");
const stats = $("#stats");
const tenantsEl = $("#tenants");
const orgsEl = $("#orgs");

const MODE_LABEL = {
  browser: "in this browser (wasm)",
  worker: "through the Worker",
  socket: "through the Worker over WebSockets",
};

const app = {
  backend: null,
  backends: {},
  panels: [],
  orgs: new Map(),
  panelsOf(org) {
    return app.panels.filter((p) => p.who.org === org);
  },
  /** Re-reads an org's card (after a run or an action of one of its users). */
  async refreshOrg(org) {
    if (org !== undefined && app.backend) await app.orgs.get(org)?.refresh();
  },
  refreshStats() {
    stats.textContent = app.backend ? app.backend.stats() : "";
    $("#config").textContent = app.backend ? app.backend.describeConfig() : "";
  },
};

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
}

async function backendFor(mode) {
  if (!app.backends[mode]) {
    app.backends[mode] = mode === "browser" ? BrowserBackend.create() : mode === "socket" ? socketBackend() : WorkerBackend.create();
    // A failed load may be retried by switching back to this mode.
    app.backends[mode].catch(() => delete app.backends[mode]);
  }
  return app.backends[mode];
}

/** The Worker over one WebSocket per tenant; each reopened socket is said and counted. */
async function socketBackend() {
  const backend = await SocketBackend.create();
  backend.onReconnect = (who, n) => {
    say(`The socket of ${whoLabel(who)} dropped and was opened again (${n} reconnect${n === 1 ? "" : "s"} so far).`);
    document.body.dataset.reconnects = String(n);
    app.refreshStats();
  };
  return backend;
}

async function useMode(mode) {
  document.body.dataset.ready = "";
  say(`Starting the agent ${MODE_LABEL[mode]}…`);
  let backend;
  try {
    backend = await backendFor(mode);
  } catch (err) {
    say(`The agent ${MODE_LABEL[mode]} could not start: ${describeError(err)}`, "error");
    return;
  }
  // The user may have switched again while this one loaded.
  if (currentMode() !== mode) return;
  app.backend = backend;
  document.body.dataset.mode = mode;
  app.refreshStats();
  await Promise.all([
    ...app.panels.map((p) => p.modeChanged(`Now talking to the agent ${MODE_LABEL[mode]}.`)),
    ...[...app.orgs.values()].map((c) => c.refresh()),
  ]);
  say(`Ready: the agent runs ${MODE_LABEL[mode]}.`);
  document.body.dataset.ready = mode;
}

const currentMode = () => document.querySelector('input[name="mode"]:checked').value;

function addTenant(who) {
  const panel = new TenantPanel(app, who);
  app.panels.push(panel);
  tenantsEl.append(panel.el);
  let card = who.org === undefined ? undefined : app.orgs.get(who.org);
  if (who.org !== undefined && !card) {
    card = new OrgCard(app, who.org);
    app.orgs.set(who.org, card);
    orgsEl.append(card.el);
  }
  if (app.backend) {
    panel.refresh();
    card?.refresh();
  }
  return panel;
}

// The runtime's id rules, checked here so a bad id is refused before a panel exists.
function idProblem(id, what) {
  if (utf8Bytes(id) > 255) return `A ${what} id is at most 255 bytes.`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return `A ${what} id has no control characters.`;
  return null;
}

function tenantProblem(who) {
  if (!who.user) return "Type a tenant id.";
  const problem = idProblem(who.user, "tenant") ?? (who.org === undefined ? null : idProblem(who.org, "org"));
  if (problem) return problem;
  if (app.panels.some((p) => whoKey(p.who) === whoKey(who))) return `${who.user}${who.org === undefined ? "" : ` of ${who.org}`} already has a panel.`;
  return null;
}

$("#add-tenant").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#new-tenant");
  const orgInput = $("#new-tenant-org");
  const org = orgInput.value.trim();
  const who = { user: input.value.trim(), org: org || undefined };
  const problem = tenantProblem(who);
  if (problem) return say(problem, "error");
  addTenant(who);
  input.value = "";
  say(
    who.org === undefined
      ? `Added tenant ${who.user}: same agent, a partition of their own.`
      : `Added ${who.user} of ${who.org}: same agent, a partition of their own, under ${who.org}'s ceiling and knowledge.`,
  );
});

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => useMode(currentMode()));
}

const modelForm = $("#model-form");
const syncModelFields = () => {
  const openai = modelForm.querySelector('input[name="model"]:checked').value === "openai";
  for (const el of modelForm.querySelectorAll(".openai-fields input")) el.disabled = !openai;
};
for (const radio of modelForm.querySelectorAll('input[name="model"]')) radio.addEventListener("change", syncModelFields);
syncModelFields();

modelForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = modelForm.querySelector('input[name="model"]:checked').value;
  const info =
    kind === "demo"
      ? { kind }
      : {
          kind,
          baseUrl: $("#openai-base").value.trim(),
          apiKey: $("#openai-key").value,
          model: $("#openai-model").value.trim(),
        };
  if (kind === "openai" && !info.model) return say("Give the model's name.", "error");
  if (app.panels.some((p) => p.inFlight > 0)) return say("Wait for the replies in progress to finish, then apply the model.", "error");
  try {
    const browser = await backendFor("browser");
    await browser.setModel(info);
    app.refreshStats();
    await Promise.all(app.panels.map((p) => (app.backend === browser ? p.modeChanged(`Model: ${browser.describeModel()}.`) : null)));
    say(`In-browser model: ${browser.describeModel()}. Memory and spend carried over.`);
  } catch (err) {
    say(`Could not use that model: ${describeError(DemoError.from(err))}`, "error");
  }
});

for (const who of [{ user: "alice" }, { user: "bob" }, { user: "alice", org: "acme" }]) addTenant(who);
useMode(currentMode());
