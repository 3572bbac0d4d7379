// The demo page: tenants side by side, one agent, a toggle for where that agent runs
// (this tab's wasm, or the demo Worker on this origin), and the model settings.
import { BrowserBackend } from "./browser-backend.js";
import { DemoError, describeError } from "./errors.js";
import { utf8Bytes } from "./dom.js";
import { TenantPanel } from "./tenant-panel.js";
import { WorkerBackend } from "./worker-backend.js";

const $ = (sel) => document.querySelector(sel);
const status = $("#status");
const stats = $("#stats");
const tenantsEl = $("#tenants");

const MODE_LABEL = {
  browser: "in this browser (wasm)",
  worker: "through the Worker",
};

const app = {
  backend: null,
  backends: {},
  panels: [],
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
    app.backends[mode] = mode === "browser" ? BrowserBackend.create() : WorkerBackend.create();
    // A failed load may be retried by switching back to this mode.
    app.backends[mode].catch(() => delete app.backends[mode]);
  }
  return app.backends[mode];
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
  await Promise.all(app.panels.map((p) => p.modeChanged(`Now talking to the agent ${MODE_LABEL[mode]}.`)));
  say(`Ready: the agent runs ${MODE_LABEL[mode]}.`);
  document.body.dataset.ready = mode;
}

const currentMode = () => document.querySelector('input[name="mode"]:checked').value;

function addTenant(id) {
  const panel = new TenantPanel(app, id);
  app.panels.push(panel);
  tenantsEl.append(panel.el);
  if (app.backend) panel.refresh();
  return panel;
}

// The runtime's id rules, checked here so a bad id is refused before a panel exists.
function tenantProblem(id) {
  if (!id) return "Type a tenant id.";
  if (utf8Bytes(id) > 255) return "A tenant id is at most 255 bytes.";
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return "A tenant id has no control characters.";
  if (app.panels.some((p) => p.tenant === id)) return `${id} already has a panel.`;
  return null;
}

$("#add-tenant").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#new-tenant");
  const id = input.value.trim();
  const problem = tenantProblem(id);
  if (problem) return say(problem, "error");
  addTenant(id);
  input.value = "";
  say(`Added tenant ${id}: same agent, a partition of their own.`);
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

for (const id of ["alice", "bob"]) addTenant(id);
useMode(currentMode());
