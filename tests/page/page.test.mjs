// The demo page (www/page/) as `npm start` serves it: built, handed to the Worker under
// Miniflare as its static assets, and driven in Debian's Chromium. Tenants chat with the
// one agent in the tab's wasm and through the Worker; each panel must show only its own
// tenant's memory, spend, rate limit and audit entries. Screenshots go to target/test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker, startWorker } from "../../scripts/worker.mjs";
import { buildPage } from "../../www/page/build.mjs";

const OUT = join(root, "target", "test-output");
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let mf;
let origin;
let browser;

before(async () => {
  // The packed package, as the other suites use it: a pkg/ rebuilt meanwhile cannot change
  // the files under test halfway through.
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({ modulesDir, outdir: join(root, "target", "page-test-worker") });
  const assets = await buildPage({ outdir: join(root, "target", "page-test-assets"), pkgDir: join(modulesDir, "tenantry") });
  // The page's own limits in the Worker too, so its meter moves as visibly as in-browser.
  const started = await startWorker({ scriptPath, port: 0, assets, bindings: { TENANT_DAILY_TOKENS: "2000", ORG_DAILY_TOKENS: "3000", RATE_LIMIT_REQUESTS: "100" } });
  mf = started.mf;
  origin = started.url.origin;
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await mf?.dispose();
});

/** A fresh page (its own context, so its own in-browser agent) with its errors collected. */
async function openPage(viewport = DESKTOP, mode = "browser") {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/page/`);
  await page.waitForSelector('body[data-ready="browser"]', { timeout: 30_000 });
  if (mode === "worker") {
    await page.getByLabel("Through the Worker (HTTP and SSE)").check();
    await page.waitForSelector('body[data-ready="worker"]', { timeout: 30_000 });
  }
  return { page, errors };
}

/** A tenant's panel: a default-org tenant by id, or `{ org, user }` for a user of an org. */
const panel = (page, who) =>
  typeof who === "string"
    ? page.locator(`article.tenant[data-tenant="${who}"]:not([data-org])`)
    : page.locator(`article.tenant[data-org="${who.org}"][data-tenant="${who.user}"]`);
const labelOf = (who) => (typeof who === "string" ? who : `${who.user} (${who.org})`);
const orgCard = (page, org) => page.locator(`article.org[data-org="${org}"]`);

/** Sends one message as `tenant` and waits for the reply to end; resolves to that reply. */
async function send(page, tenant, text, { session } = {}) {
  const p = panel(page, tenant);
  if (session !== undefined) await p.getByLabel("Session", { exact: true }).fill(session);
  const replies = p.locator("li.msg.assistant");
  const before = await replies.count();
  await p.getByLabel(`Message as ${labelOf(tenant)}`, { exact: true }).fill(text);
  await p.getByRole("button", { name: "Send" }).click();
  const reply = replies.nth(before);
  await reply.and(page.locator(':not([data-state="streaming"])')).waitFor({ timeout: 15_000 });
  return {
    text: (await reply.locator(".text").textContent()).trim(),
    state: await reply.getAttribute("data-state"),
    code: await reply.getAttribute("data-code"),
    scope: await reply.getAttribute("data-scope"),
    deltas: Number(await reply.getAttribute("data-deltas")),
  };
}

const memoryText = async (page, tenant) => (await panel(page, tenant).locator(".memory-view").textContent()).replace(/\s+/g, " ");

/** The tokens meter of a tenant: { value, max, text }. */
async function tokensMeter(page, tenant) {
  const limit = panel(page, tenant).locator('.limit[data-metric="totalTokens"]');
  const meter = limit.locator("meter");
  return {
    value: Number(await meter.getAttribute("value")),
    max: Number(await meter.getAttribute("max")),
    text: await limit.locator(".limit-text").textContent(),
  };
}

/** Waits until a tenant's memory view says `pattern` (panels refresh after each action). */
async function memoryShows(page, tenant, pattern) {
  await panel(page, tenant).locator(".memory-view", { hasText: pattern }).waitFor({ timeout: 10_000 });
}

test("in-browser: two tenants stream from one agent, each panel shows only its own memory, spend and audit", async () => {
  const { page, errors } = await openPage();
  assert.match(await page.locator("#stats").textContent(), /One Agent in this tab's wasm/);
  assert.match(await page.locator("#config").textContent(), /"maxTotalTokens": 4000/);
  assert.equal((await tokensMeter(page, "alice")).value, 0);

  const hiAlice = await send(page, "alice", "My name is Alice");
  const hiBob = await send(page, "bob", "My name is Bob");
  assert.equal(hiAlice.state, "done");
  assert.match(hiAlice.text, /Alice/);
  assert.match(hiBob.text, /Bob/);
  // Rendered from text-delta events as they arrived, not in one piece at the end.
  assert.ok(hiAlice.deltas > 1 && hiBob.deltas > 1, `deltas: ${hiAlice.deltas}, ${hiBob.deltas}`);

  assert.equal((await send(page, "alice", "What's my name?")).text, "Your name is Alice.");
  assert.equal((await send(page, "bob", "What's my name?")).text, "Your name is Bob.");

  const aliceMemory = await memoryText(page, "alice");
  const bobMemory = await memoryText(page, "bob");
  assert.match(aliceMemory, /Session “default”: 4 message\(s\)/);
  assert.match(aliceMemory, /My name is Alice/);
  assert.doesNotMatch(aliceMemory, /Bob/);
  assert.match(bobMemory, /My name is Bob/);
  assert.doesNotMatch(bobMemory, /Alice/);
  // Three panels were read (acme's alice too), two of them ran.
  assert.match(await page.locator("#stats").textContent(), /3 tenant\(s\) in memory \(1 org\(s\)\), 2 session\(s\), 8 message\(s\)/);

  const meter = await tokensMeter(page, "alice");
  assert.equal(meter.max, 4000);
  assert.ok(meter.value > 0 && meter.value < 4000, `alice's meter at ${meter.value}`);
  assert.match(meter.text, new RegExp(`^${meter.value} used of 4,000 \\(${(4000 - meter.value).toLocaleString("en-US")} left\\)$`));
  assert.ok(Number(await panel(page, "alice").locator(".totals").getAttribute("data-tokens")) > 0);
  // Two requests taken; one drips back every 6 s, so a slow machine may see one returned.
  assert.match(await panel(page, "alice").locator(".rate").textContent(), /Rate limit \(10 requests per 60 s\): [89] of 10 requests left/);

  // Working memory set for one tenant lands in their memory only.
  await panel(page, "alice").getByLabel("Block text").fill("Likes green tea.");
  await panel(page, "alice").getByRole("button", { name: "Set block" }).click();
  await memoryShows(page, "alice", "Likes green tea.");
  await panel(page, "alice").getByLabel("Value (JSON or text)").fill('"pro"');
  await panel(page, "alice").getByRole("button", { name: "Set property" }).click();
  await memoryShows(page, "alice", /plan\s*"pro"/);
  assert.doesNotMatch(await memoryText(page, "bob"), /green tea|"pro"/);

  // Export: the document on the page is exactly alice's.
  await panel(page, "alice").getByRole("button", { name: "Export data" }).click();
  const pre = panel(page, "alice").locator(".export-view pre");
  await pre.waitFor();
  const doc = JSON.parse(await pre.textContent());
  assert.equal(doc.format, "tenantry.user");
  assert.equal(doc.userId, "alice");
  assert.equal(doc.sessions[0].turns.length, 2);
  assert.deepEqual(doc.blocks, [{ label: "preferences", text: "Likes green tea." }]);
  assert.doesNotMatch(JSON.stringify(doc), /Bob/);
  assert.equal(await panel(page, "alice").getByRole("link", { name: "Download JSON" }).getAttribute("download"), "tenantry-alice.json");
  assert.equal(await panel(page, "bob").locator(".export-view pre").count(), 0);

  // The audit log, when this build has it: a tenant's entries, an edit, the broken link.
  const alice = panel(page, "alice");
  const auditMissing = await alice.locator('[data-audit="unavailable"]').count();
  if (auditMissing) {
    assert.equal(await alice.locator(".audit-view").textContent(), "audit log not available in this build");
  } else {
    const entries = alice.locator("li.audit-entry");
    assert.ok((await entries.count()) >= 6, "two runs of alice: at least run.start, model.call, run.finish each");
    const seqs = await entries.locator(".seq").allTextContents();
    await alice.getByRole("button", { name: "Verify chain" }).click();
    await alice.locator('.verify-result[data-ok="true"]').waitFor();
    assert.match(await alice.locator(".verify-result").textContent(), /Chain verified: \d+ entries/);
    // Nothing of bob's is in alice's log.
    for (const area of await alice.locator("li.audit-entry textarea").all()) assert.doesNotMatch(await area.inputValue(), /"bob"/);

    const target = entries.nth(1);
    const seq = Number(seqs[1].slice(1));
    const area = target.locator("textarea");
    const data = JSON.parse(await area.inputValue());
    await area.fill(JSON.stringify({ ...data, tampered: true }));
    await alice.getByRole("button", { name: "Verify chain" }).click();
    const result = alice.locator('.verify-result[data-ok="false"]');
    await result.waitFor();
    assert.match(await result.textContent(), new RegExp(`Tampering detected: first broken link at index ${seq} .*\\(seq ${seq}\\): modified`));
    assert.equal(await result.getAttribute("data-index"), String(seq));
    assert.match(await target.getAttribute("class"), /\bbroken\b/);
    assert.equal(await alice.locator("li.audit-entry.broken").count(), 1);
    // Bob's panel verifies the same chain without alice's unsaved edit: intact.
    await panel(page, "bob").getByRole("button", { name: "Verify chain" }).click();
    await panel(page, "bob").locator('.verify-result[data-ok="true"]').waitFor();
  }
  await page.screenshot({ path: join(OUT, "page-desktop.png"), fullPage: true });

  // Forget alice: her side empties, bob's stays as it was. What she spent keeps counting
  // (erasure is not a way around a limit), so her meter does not move.
  const spentBefore = (await tokensMeter(page, "alice")).value;
  await alice.getByRole("button", { name: "Forget tenant" }).click();
  await memoryShows(page, "alice", "Nothing is kept for alice.");
  assert.ok(spentBefore > 0);
  assert.equal((await tokensMeter(page, "alice")).value, spentBefore);
  assert.equal(await alice.locator(".export-view pre").count(), 0);
  assert.match(await memoryText(page, "bob"), /Session “default”: 4 message\(s\).*My name is Bob/);
  assert.ok((await tokensMeter(page, "bob")).value > 0);
  assert.doesNotMatch(await send(page, "alice", "What's my name?").then((r) => r.text), /Alice/);
  assert.equal((await send(page, "bob", "What's my name?")).text, "Your name is Bob.");

  assert.deepEqual(errors, []);
  await page.close();
});

test("in-browser: a tenant added from the form is rate limited alone, with the retry time shown", async () => {
  const { page, errors } = await openPage();
  await page.getByLabel("New tenant id").fill("carol");
  await page.getByRole("button", { name: "Add tenant" }).click();
  await panel(page, "carol").waitFor();
  assert.match(await page.locator("#status").textContent(), /Added tenant carol/);
  // The same id twice is refused, not a second panel.
  await page.getByLabel("New tenant id").fill("carol");
  await page.getByRole("button", { name: "Add tenant" }).click();
  assert.match(await page.locator("#status").textContent(), /carol already has a panel/);
  assert.equal(await panel(page, "carol").count(), 1);

  // Eleven sends in quick succession, as an impatient user would click: the bucket holds
  // ten, and one request drips back every 6 s, so only the eleventh is refused.
  const p = panel(page, "carol");
  for (let i = 0; i < 11; i++) {
    await p.getByLabel("Message as carol").fill("Hi");
    await p.getByRole("button", { name: "Send" }).click();
  }
  // Refused at once, while the ten queue in carol's session; read the notice before the
  // bucket drips back a request.
  const refusal = p.locator('li.msg.assistant[data-code="rate_limited"]');
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /Rate limited, retry in \d+ s\./);
  const notice = await p.locator('.rate[data-limited="true"]').textContent();
  const seconds = Number(/Rate limited, retry in (\d+) s/.exec(notice)?.[1]);
  assert.ok(seconds >= 1 && seconds <= 6, notice);
  await page.waitForFunction(() => {
    const replies = document.querySelectorAll('article[data-tenant="carol"] li.msg.assistant');
    return replies.length === 11 && [...replies].every((r) => r.dataset.state !== "streaming");
  }, null, { timeout: 30_000 });
  const states = await p.locator("li.msg.assistant").evaluateAll((rs) => rs.map((r) => r.dataset.code ?? r.dataset.state));
  assert.deepEqual(states, [...Array(10).fill("done"), "rate_limited"]);
  // Nothing of the refused run was kept: ten turns, twenty messages.
  assert.match(await memoryText(page, "carol"), /Session “default”: 20 message\(s\)/);

  // Alice's bucket is her own.
  assert.equal((await send(page, "alice", "Hi")).state, "done");
  assert.match(await panel(page, "alice").locator(".rate").textContent(), /9 of 10 requests left/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("phone width (390px): tenants stack, nothing overflows, every control is labelled", async () => {
  const { page, errors } = await openPage(PHONE);
  await send(page, "alice", "My name is Alice");
  await send(page, "bob", "My name is Bob");
  const a = await panel(page, "alice").boundingBox();
  const b = await panel(page, "bob").boundingBox();
  assert.ok(Math.abs(a.x - b.x) < 1 && b.y >= a.y + a.height, `alice ${JSON.stringify(a)}, bob ${JSON.stringify(b)}`);
  assert.ok(a.width <= PHONE.width);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, "no horizontal scrolling");

  const a11y = await page.evaluate(() => ({
    unlabelled: [...document.querySelectorAll("input, textarea, select")]
      .filter((el) => !el.labels?.length && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
      .map((el) => el.outerHTML),
    textless: [...document.querySelectorAll("button")].filter((b) => !b.textContent.trim()).map((b) => b.outerHTML),
    live: [...document.querySelectorAll(".transcript")].map((t) => t.getAttribute("aria-live")),
    lang: document.documentElement.lang,
  }));
  assert.deepEqual(a11y.unlabelled, []);
  assert.deepEqual(a11y.textless, []);
  assert.deepEqual(a11y.live, ["polite", "polite", "polite"]);
  assert.equal(a11y.lang, "en");
  await page.screenshot({ path: join(OUT, "page-phone.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("through the Worker: SSE chat per tenant, memory and usage from the /v1 routes, forget of one tenant", async () => {
  // The assets do not shadow the API: / is still the Worker's own answer.
  const home = await fetch(`${origin}/`);
  assert.equal(home.headers.get("x-tenantry-auth"), "open");
  assert.match(await home.text(), /tenantry demo Worker/);

  const { page, errors } = await openPage(DESKTOP, "worker");
  assert.match(await page.locator("#stats").textContent(), /open demo mode/);
  assert.match(await send(page, "alice", "My name is Alice").then((r) => r.text), /Alice/);
  assert.match(await send(page, "bob", "My name is Bob").then((r) => r.text), /Bob/);
  assert.equal((await send(page, "alice", "What's my name?")).text, "Your name is Alice.");
  assert.equal((await send(page, "bob", "What's my name?")).text, "Your name is Bob.");

  const aliceMemory = await memoryText(page, "alice");
  assert.match(aliceMemory, /Session “default”: 4 message\(s\).*My name is Alice/);
  assert.match(aliceMemory, /GET \/agent\/history\/alice: 2 exchange\(s\)/);
  assert.doesNotMatch(aliceMemory, /Bob/);
  assert.doesNotMatch(await memoryText(page, "bob"), /Alice/);
  // The meter reads GET /v1/tenants/alice/usage: the Worker's own limit, moved by the runs.
  const meter = await tokensMeter(page, "alice");
  const usage = await (await fetch(`${origin}/v1/tenants/alice/usage`)).json();
  assert.equal(meter.max, 2000);
  assert.equal(meter.value, usage.limits[0].used);
  assert.ok(meter.value > 0);
  // The Worker has no route for working memory, and the audit log is in-browser only.
  assert.ok(await panel(page, "alice").getByRole("button", { name: "Set block" }).isDisabled());
  assert.match(await panel(page, "alice").locator(".audit-view").textContent(), /in-browser mode only/);

  await panel(page, "alice").getByRole("button", { name: "Export data" }).click();
  const doc = JSON.parse(await panel(page, "alice").locator(".export-view pre").textContent());
  assert.equal(doc.userId, "alice");
  assert.doesNotMatch(JSON.stringify(doc), /Bob/);
  await page.screenshot({ path: join(OUT, "page-worker.png"), fullPage: true });

  await panel(page, "alice").getByRole("button", { name: "Forget tenant" }).click();
  await memoryShows(page, "alice", "Nothing is kept for alice.");
  assert.match(await memoryText(page, "bob"), /My name is Bob/);
  const [aliceDoc, bobDoc] = await Promise.all(["alice", "bob"].map((t) => fetch(`${origin}/v1/tenants/${t}/export`).then((r) => r.json())));
  assert.equal(aliceDoc.sessions.length, 0);
  assert.equal(bobDoc.sessions[0].turns.length, 2);

  // Back in the browser: that agent never saw these tenants' Worker conversations.
  await page.getByLabel("In this browser (wasm)").check();
  await page.waitForSelector('body[data-ready="browser"]');
  await memoryShows(page, "bob", "Nothing is kept for bob.");
  assert.deepEqual(errors, []);
  await page.close();
});

/** Adds a panel for `user` of `org` from the form. */
async function addOrgUser(page, org, user) {
  await page.getByLabel("New tenant id").fill(user);
  await page.getByLabel("Organisation (optional)").fill(org);
  await page.getByRole("button", { name: "Add tenant" }).click();
  await panel(page, { org, user }).waitFor();
}

/** The org card's tokens meter: { value, max }. */
async function orgMeter(page, org) {
  const meter = orgCard(page, org).locator('.limit[data-metric="totalTokens"] meter');
  return { value: Number(await meter.getAttribute("value")), max: Number(await meter.getAttribute("max")) };
}

for (const mode of ["browser", "worker"]) {
  const where = mode === "browser" ? "in-browser" : "through the Worker";
  test(`${where}: acme's alice is not alice; acme's users share its ceiling and knowledge; forgetting acme leaves the rest`, async () => {
    const { page, errors } = await openPage(DESKTOP, mode);
    const acme = (user) => ({ org: "acme", user });
    // The page starts with acme's alice beside the default org's alice and bob.
    await orgCard(page, "acme").waitFor();
    assert.match(await send(page, "alice", "My name is Alice").then((r) => r.text), /Alice/);
    assert.equal((await send(page, acme("alice"), "What's my name?")).text, `I don't know your name yet. Tell me with "My name is ...".`);
    assert.equal((await send(page, acme("alice"), "My name is Ally")).state, "done");
    assert.equal((await send(page, "alice", "What's my name?")).text, "Your name is Alice.");
    assert.doesNotMatch(await memoryText(page, "alice"), /Ally/);
    assert.doesNotMatch(await memoryText(page, acme("alice")), /My name is Alice/);

    // Org knowledge: set on acme's card, in acme's users' prompts and nobody else's.
    await addOrgUser(page, "acme", "carol");
    const card = orgCard(page, "acme");
    await card.getByLabel("Block label for acme").fill("refund policy");
    await card.getByLabel("Block text for acme").fill("Refunds within 30 days.");
    await card.getByRole("button", { name: "Set org block" }).click();
    await card.locator(".org-knowledge", { hasText: "Refunds within 30 days." }).waitFor({ timeout: 10_000 });
    assert.equal((await send(page, acme("carol"), "What does my organisation say?")).text, "Your organisation says: refund policy: Refunds within 30 days.");
    assert.equal((await send(page, "bob", "What does my organisation say?")).text, "Your organisation has told me nothing.");
    await addOrgUser(page, "globex", "carol");
    assert.equal((await send(page, { org: "globex", user: "carol" }, "What does my organisation say?")).text, "Your organisation has told me nothing.");

    // The org ceiling, shared: acme's users take turns with long messages until one is refused
    // by acme's budget while each is under their own limit; bob (default org) is not held.
    const { max } = await orgMeter(page, "acme");
    assert.equal(max, mode === "browser" ? 6000 : 3000);
    const perUser = mode === "browser" ? 4000 : 2000;
    const long = "Hello there. ".repeat(mode === "browser" ? 300 : 150);
    await addOrgUser(page, "acme", "dave");
    let refused;
    const users = ["alice", "carol", "dave"].map(acme);
    for (let i = 0; i < 12 && !refused; i++) {
      // A session of its own each, so no run carries an earlier long one in its history.
      const reply = await send(page, users[i % 3], long, { session: `long-${i}` });
      if (reply.state === "error") refused = reply;
    }
    assert.ok(refused, "acme's ceiling never refused");
    assert.equal(refused.code, "budget_exceeded");
    assert.equal(refused.scope, "org");
    assert.match(refused.text, /the org's ceiling/);
    // The meters refresh after each reply: read them once they agree, or fail on the last read.
    const agreed = async (read) => {
      for (let i = 0; ; i++) {
        const [a, b] = await read();
        if (a === b || i === 50) return [a, b];
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const [held, sum] = await agreed(async () => [
      (await orgMeter(page, "acme")).value,
      (await Promise.all(users.map((who) => tokensMeter(page, who)))).reduce((n, m) => n + m.value, 0),
    ]);
    assert.equal(held, sum, "the org's spend is its users' spend");
    // Committing a turn embeds it (search by meaning) and that charge is never refused, so
    // the ceiling may be passed by at most the last turn's own text, as documented.
    const lastTurn = Math.ceil(long.length / 4) + 50;
    assert.ok(held > perUser * 0.5 && held <= max + (mode === "browser" ? lastTurn : 0), `acme's meter at ${held} of ${max}`);
    for (const who of users) {
      const { value } = await tokensMeter(page, who);
      assert.ok(value < perUser, `${labelOf(who)} at ${value} of ${perUser}`);
    }
    assert.equal((await send(page, "bob", long)).state, "done");
    // Each org user's search reads that user only, in either mode.
    const hits = await searchPanel(page, { org: "globex", user: "carol" }, "organisation", "lexical");
    assert.ok(hits.length > 0 && hits.every((h) => /organisation/.test(h.text) && !/Hello there/.test(h.text)), JSON.stringify(hits));
    const [globex, globexCarol] = await agreed(async () => [(await orgMeter(page, "globex")).value, (await tokensMeter(page, { org: "globex", user: "carol" })).value]);
    assert.ok(globex > 0);
    assert.equal(globex, globexCarol);
    await page.screenshot({ path: join(OUT, `page-orgs-${mode}.png`), fullPage: true });

    // Forgetting acme takes its users and knowledge, nothing of globex or the default org.
    await card.getByRole("button", { name: "Forget org acme" }).click();
    await card.locator(".notice", { hasText: "Forgot acme: 3 user(s)" }).waitFor({ timeout: 10_000 });
    await card.locator(".org-knowledge", { hasText: "No knowledge is kept for acme." }).waitFor({ timeout: 10_000 });
    for (const who of users) await memoryShows(page, who, `Nothing is kept for ${labelOf(who)}.`);
    assert.match(await memoryText(page, "alice"), /My name is Alice/);
    assert.match(await memoryText(page, { org: "globex", user: "carol" }), /What does my organisation say/);
    // Through the Worker the refused run is answered 429, which the browser logs once.
    const unexpected = errors.filter((e) => !(mode === "worker" && /status of 429/.test(e)));
    assert.deepEqual(unexpected, []);
    await page.close();
    // The Worker's state outlives the page: the tenants the next tests talk to start empty.
    if (mode === "worker") {
      await Promise.all(["/v1/tenants/alice", "/v1/tenants/bob", "/v1/orgs/globex"].map((path) => fetch(`${origin}${path}`, { method: "DELETE" })));
    }
  });
}

test("through the Worker over WebSockets: replies stream per tenant and per org user, a dropped socket reconnects and the chat goes on", async () => {
  const { page, errors } = await openPage(DESKTOP);
  // Every socket the page opens goes through here to the Worker, so the test can drop one.
  const routes = [];
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    routes.push({ url: ws.url(), ws });
    ws.connectToServer();
  });
  await page.getByLabel("Through the Worker (WebSocket)").check();
  await page.waitForSelector('body[data-ready="socket"]', { timeout: 30_000 });
  assert.match(await page.locator("#config").textContent(), /GET \/v1\/ws/);
  const hi = await send(page, "alice", "My name is Alicia");
  assert.equal(hi.state, "done");
  assert.match(hi.text, /Alicia/);
  assert.ok(hi.deltas > 1, `deltas: ${hi.deltas}`);
  const acme = { org: "acme", user: "alice" };
  assert.equal((await send(page, acme, "What's my name?")).text, `I don't know your name yet. Tell me with "My name is ...".`);
  assert.deepEqual(routes.map((r) => new URL(r.url).pathname), ["/v1/ws", "/v1/orgs/acme/users/alice/ws"]);
  assert.match(await page.locator("#stats").textContent(), /Sockets open: 2; reconnects: 0/);

  // alice's socket drops: the page opens it again by itself, says so, and her chat goes on.
  await routes[0].ws.close({ code: 4000, reason: "dropped by the test" });
  await page.waitForSelector('body[data-reconnects="1"]', { timeout: 15_000 });
  assert.match(await page.locator("#status").textContent(), /The socket of alice dropped and was opened again \(1 reconnect so far\)/);
  assert.equal((await send(page, "alice", "What's my name?")).text, "Your name is Alicia.");
  assert.equal(routes.length, 3);
  await page.screenshot({ path: join(OUT, "page-socket.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
  await Promise.all(["/v1/tenants/alice", "/v1/orgs/acme"].map((path) => fetch(`${origin}${path}`, { method: "DELETE" })));
});

/** Searches `tenant`'s messages from their panel; resolves to the hits shown: { meta, text }. */
async function searchPanel(page, tenant, query, mode) {
  const p = panel(page, tenant);
  await p.getByLabel(`Search ${labelOf(tenant)}'s messages`).fill(query);
  await p.getByLabel("Search mode").selectOption(mode);
  await p.getByRole("button", { name: "Search", exact: true }).click();
  const results = p.locator(".search-hits:not([aria-busy])", { hasText: `for “${query}”, ${mode}.` });
  await results.waitFor({ timeout: 10_000 });
  return results.locator("li.hit").evaluateAll((items) =>
    items.map((li) => ({ meta: li.querySelector(".hit-meta").textContent, text: li.querySelector(".text").textContent })),
  );
}

for (const mode of ["browser", "worker"]) {
  test(`${mode === "browser" ? "in-browser" : "through the Worker"}: the search box finds a tenant's message by meaning, never another tenant's`, async () => {
    const { page, errors } = await openPage(DESKTOP, mode);
    await send(page, "alice", "My favourite colour is green");
    await send(page, "alice", "My name is Alice");
    // Closer to the query than anything of alice's: it must not show in her panel.
    await send(page, "bob", "My preferred hue is blue");
    const query = "what hue do I prefer";

    const semantic = await searchPanel(page, "alice", query, "semantic");
    assert.equal(semantic[0].text, "My favourite colour is green");
    assert.match(semantic[0].meta, /^user · session “default” · score 0\.\d{3}$/);
    assert.ok(semantic.every((h) => !/blue|hue/.test(h.text)), JSON.stringify(semantic));
    // No word in common: by words alone her message is not found.
    const lexical = await searchPanel(page, "alice", query, "lexical");
    assert.ok(lexical.every((h) => !/green/.test(h.text)), JSON.stringify(lexical));
    const hybrid = await searchPanel(page, "alice", query, "hybrid");
    assert.ok(hybrid.some((h) => h.text === "My favourite colour is green"), JSON.stringify(hybrid));
    assert.ok(hybrid.every((h) => !/blue|hue/.test(h.text)), JSON.stringify(hybrid));
    // Bob's own search finds his.
    const bob = await searchPanel(page, "bob", query, "semantic");
    assert.equal(bob[0].text, "My preferred hue is blue");
    assert.ok(bob.every((h) => !/green|Alice/.test(h.text)), JSON.stringify(bob));
    if (mode === "worker") assert.match(await page.locator("#config").textContent(), /GET \/v1\/tenants\/\{id\}\/search/);
    else assert.match(await page.locator("#config").textContent(), /"embedder": demoEmbedder\(\)/);
    await page.screenshot({ path: join(OUT, `page-search-${mode}.png`), fullPage: true });

    // Forgetting alice clears her results; a new search finds nothing of hers, nor of bob's.
    await panel(page, "alice").getByRole("button", { name: "Forget tenant" }).click();
    await memoryShows(page, "alice", "Nothing is kept for alice.");
    assert.equal(await panel(page, "alice").locator("li.hit").count(), 0);
    assert.deepEqual(await searchPanel(page, "alice", query, "hybrid"), []);
    assert.deepEqual(errors, []);
    await page.close();
  });
}

/**
 * An OpenAI-compatible endpoint on loopback that streams `pieces` as chat-completion deltas
 * (with the CORS answers a browser needs to call it from the page's origin) and records the
 * Authorization header of every request.
 */
async function fakeOpenAI(pieces) {
  const seen = [];
  const server = createServer((req, res) => {
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "authorization, content-type",
      "access-control-allow-methods": "POST, OPTIONS",
    };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ path: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(200, { ...cors, "content-type": "text/event-stream" });
      const chunks = [
        ...pieces.map((p) => ({ choices: [{ index: 0, delta: { content: p } }] })),
        { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
        { choices: [], usage: { prompt_tokens: 40, completion_tokens: pieces.length } },
      ];
      for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { seen, url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

test("settings: an OpenAI-compatible endpoint streams into the same agent; the key goes to that endpoint only", async () => {
  const PIECES = ["Hello ", "from ", "the ", "endpoint."];
  const endpoint = await fakeOpenAI(PIECES);
  try {
    const { page, errors } = await openPage();
    await send(page, "alice", "My name is Alice");
    await page.getByText("Settings: model").click();
    await page.getByLabel("OpenAI-compatible endpoint").check();
    await page.getByLabel("Base URL").fill(endpoint.url);
    await page.getByLabel("API key").fill("sk-page-test-0123");
    await page.getByLabel("Model name").fill("tiny");
    await page.getByRole("button", { name: "Apply model" }).click();
    await page.locator("#status", { hasText: "In-browser model: openai(" }).waitFor();

    const reply = await send(page, "alice", "Hello there");
    assert.equal(reply.text, PIECES.join(""));
    assert.equal(reply.deltas, PIECES.length);
    assert.equal(endpoint.seen.length, 1);
    assert.equal(endpoint.seen[0].path, "/v1/chat/completions");
    assert.equal(endpoint.seen[0].auth, "Bearer sk-page-test-0123");
    assert.equal(endpoint.seen[0].body.model, "tiny");
    // The agent was rebuilt from a snapshot: alice's earlier turn is still hers, and sent.
    assert.ok(endpoint.seen[0].body.messages.some((m) => m.content === "My name is Alice"));
    assert.match(await memoryText(page, "alice"), /Session “default”: 4 message\(s\)/);
    // Shown nowhere, kept nowhere.
    const leaked = await page.evaluate((key) => ({
      text: document.body.innerText.includes(key),
      storage: JSON.stringify({ ...localStorage }).includes(key) || JSON.stringify({ ...sessionStorage }).includes(key),
    }), "sk-page-test-0123");
    assert.deepEqual(leaked, { text: false, storage: false });
    assert.match(await page.locator("#config").textContent(), /apiKey: "•••"/);

    // Back to the demo model.
    await page.getByLabel("Demo model (offline, no key)").check();
    await page.getByRole("button", { name: "Apply model" }).click();
    await page.locator("#status", { hasText: "In-browser model: demoModel()" }).waitFor();
    assert.equal((await send(page, "alice", "What's my name?")).text, "Your name is Alice.");
    assert.equal(endpoint.seen.length, 1);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await endpoint.close();
  }
});
