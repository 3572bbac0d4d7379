// One tenant's panel: their chat with the shared agent, and everything the agent holds for
// them (memory, budget, rate limit, audit log), read back from the agent after each action.
import { AuditView } from "./audit.js";
import { describeError, DemoError } from "./errors.js";
import { fill, fmtInt, fmtUsd, h, labelled, uid } from "./dom.js";
import { whoLabel } from "./identity.js";
import { limitRows, totalsText } from "./meters.js";

// By words (BM25), by meaning (cosine of embeddings), or both fused by rank.
const SEARCH_MODES = ["lexical", "semantic", "hybrid"];

export class TenantPanel {
  constructor(app, who) {
    this.app = app;
    this.who = who;
    this.tenant = whoLabel(who);
    this.inFlight = 0;
    this.exportUrl = null;
    this.build();
    this.audit = new AuditView(this.auditView, { who: this.who, tenant: this.tenant, backend: () => this.app.backend });
  }

  get backend() {
    return this.app.backend;
  }

  build() {
    const t = this.tenant;
    const titleId = uid("tenant");
    this.input = h("input", { type: "text", name: "message", autocomplete: "off", required: true, placeholder: "My name is …" });
    this.session = h("input", { type: "text", name: "session", autocomplete: "off", value: "default", class: "session" });
    this.transcript = h("ol", { class: "transcript", "aria-live": "polite", "aria-label": `Conversation of ${t}` });
    this.notice = h("p", { class: "notice", role: "status" });
    this.meters = h("div", { class: "meters" });
    this.totals = h("p", { class: "totals" });
    this.rateLine = h("p", { class: "rate" });
    this.memoryView = h("div", { class: "memory-view" });
    this.auditView = h("div", { class: "audit-view" });
    this.exportView = h("div", { class: "export-view" });

    this.blockLabel = h("input", { type: "text", name: "label", autocomplete: "off", required: true, value: "preferences" });
    this.blockText = h("input", { type: "text", name: "text", autocomplete: "off", required: true, placeholder: "Prefers short answers." });
    this.propKey = h("input", { type: "text", name: "key", autocomplete: "off", required: true, value: "plan" });
    this.propValue = h("input", { type: "text", name: "value", autocomplete: "off", required: true, placeholder: "pro" });
    this.memoryForms = h(
      "div",
      { class: "memory-forms" },
      h("form", { class: "set-block", onsubmit: (e) => this.onSetBlock(e) }, labelled("Block label", this.blockLabel), labelled("Block text", this.blockText), h("button", { type: "submit" }, "Set block")),
      h("form", { class: "set-property", onsubmit: (e) => this.onSetProperty(e) }, labelled("Property", this.propKey), labelled("Value (JSON or text)", this.propValue), h("button", { type: "submit" }, "Set property")),
    );
    this.memoryNote = h("p", { class: "note" });

    this.searchQuery = h("input", { type: "text", name: "q", autocomplete: "off", required: true, placeholder: "what hue do I prefer?" });
    this.searchMode = h(
      "select",
      { name: "mode" },
      SEARCH_MODES.map((mode) => h("option", { value: mode }, mode)),
    );
    this.searchHits = h("div", { class: "search-hits", "aria-live": "polite" });

    this.el = h(
      "article",
      { class: "tenant", "data-tenant": this.who.user, "data-org": this.who.org, "aria-labelledby": titleId },
      h("header", { class: "tenant-head" }, h("h2", { id: titleId }, this.who.user), h("span", { class: "badge" }, this.who.org === undefined ? "tenant" : `user of ${this.who.org}`)),
      h(
        "section",
        { class: "chat", "aria-label": `Chat as ${t}` },
        this.transcript,
        h(
          "form",
          { class: "send", onsubmit: (e) => this.onSend(e) },
          h("div", { class: "message" }, labelled(`Message as ${t}`, this.input)),
          h("div", { class: "session-field" }, labelled("Session", this.session)),
          h("button", { type: "submit" }, "Send"),
        ),
        this.notice,
      ),
      h("section", { class: "budget" }, h("h3", {}, "Budget and rate limit"), this.meters, this.totals, this.rateLine),
      h("section", { class: "memory" }, h("h3", {}, "Memory"), this.memoryView, this.memoryForms, this.memoryNote),
      h(
        "section",
        { class: "search" },
        h("h3", {}, "Search"),
        h(
          "form",
          { class: "search-form", onsubmit: (e) => this.onSearch(e) },
          h("div", { class: "query" }, labelled(`Search ${t}'s messages`, this.searchQuery)),
          h("div", { class: "mode-field" }, labelled("Search mode", this.searchMode)),
          h("button", { type: "submit" }, "Search"),
        ),
        this.searchHits,
      ),
      h("section", { class: "audit" }, h("h3", {}, "Audit log"), this.auditView),
      h(
        "section",
        { class: "data-rights" },
        h("h3", {}, "Export and erasure"),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "export", onclick: () => this.onExport() }, "Export data"),
          h("button", { type: "button", class: "forget danger", onclick: () => this.onForget() }, "Forget tenant"),
        ),
        this.exportView,
      ),
    );
  }

  /** Shows a line in the tenant's status region (announced to screen readers). */
  say(text, kind = "info") {
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
  }

  async onSend(event) {
    event.preventDefault();
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = "";
    await this.send(text);
  }

  async send(text) {
    const backend = this.backend;
    const sessionId = this.session.value.trim() || undefined;
    this.transcript.append(h("li", { class: "msg user" }, h("span", { class: "who" }, "You"), h("span", { class: "text" }, text)));
    const body = h("span", { class: "text" }, "…");
    const reply = h("li", { class: "msg assistant", "data-state": "streaming", "data-deltas": "0" }, h("span", { class: "who" }, "Agent"), body);
    this.transcript.append(reply);
    this.transcript.setAttribute("aria-busy", "true");
    this.transcript.scrollTop = this.transcript.scrollHeight;
    this.inFlight++;
    // In-browser, usage() is a cheap synchronous read: poll it so the meter shows what the
    // run holds in reserve while it streams, then what it settled at.
    const live = backend.mode === "browser" ? setInterval(() => this.refreshUsage(), 150) : null;
    let deltas = 0;
    try {
      const result = await backend.stream(this.who, text, {
        sessionId,
        onDelta: (piece) => {
          if (deltas++ === 0) body.textContent = "";
          body.textContent += piece;
          reply.dataset.deltas = String(deltas);
          this.transcript.scrollTop = this.transcript.scrollHeight;
        },
      });
      // A model that does not stream (the Worker's demo model) sends its text in `finish` only.
      if (deltas === 0) body.textContent = result.text;
      reply.dataset.state = "done";
      this.say(`Run finished: ${fmtInt(result.usage?.totalTokens)} tokens, ${fmtUsd(result.usage?.costUsd)}.`);
    } catch (err) {
      const e = DemoError.from(err);
      reply.dataset.state = "error";
      reply.dataset.code = e.code;
      if (typeof e.details.scope === "string") reply.dataset.scope = e.details.scope;
      body.textContent = describeError(e);
      this.say(describeError(e), "error");
    } finally {
      clearInterval(live);
      this.inFlight--;
      if (this.inFlight === 0) this.transcript.removeAttribute("aria-busy");
      await Promise.all([this.refresh(), this.app.refreshOrg(this.who.org)]);
      this.app.refreshStats();
    }
  }

  async onSetBlock(event) {
    event.preventDefault();
    await this.act(async () => {
      await this.backend.setBlock(this.who, this.blockLabel.value, this.blockText.value);
      this.say(`Block “${this.blockLabel.value}” set for ${this.tenant}.`);
    });
  }

  async onSetProperty(event) {
    event.preventDefault();
    let value;
    try {
      value = JSON.parse(this.propValue.value);
    } catch {
      value = this.propValue.value;
    }
    await this.act(async () => {
      await this.backend.setProperty(this.who, this.propKey.value, value);
      this.say(`Property “${this.propKey.value}” set for ${this.tenant}.`);
    });
  }

  async onExport() {
    await this.act(async () => {
      const doc = await this.backend.export(this.who);
      const text = JSON.stringify(doc, null, 2);
      if (this.exportUrl) URL.revokeObjectURL(this.exportUrl);
      this.exportUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      fill(
        this.exportView,
        h(
          "details",
          { open: true, class: "export-doc" },
          h("summary", {}, `Export of ${this.tenant}: ${doc.format} v${doc.version}, ${doc.sessions.length} session(s)`),
          h("pre", { tabindex: "0", "aria-label": `Exported data of ${this.tenant}` }, text),
          h("a", { href: this.exportUrl, download: `tenantry-${this.tenant}.json` }, "Download JSON"),
        ),
      );
      this.say(`Exported ${this.tenant}'s data (only theirs).`);
    }, false);
  }

  /** Ranks this tenant's own messages: the backend searches their partition only. */
  async onSearch(event) {
    event.preventDefault();
    const backend = this.backend;
    const query = this.searchQuery.value;
    const mode = this.searchMode.value;
    this.searchHits.setAttribute("aria-busy", "true");
    try {
      const hits = await backend.search(this.who, query, mode);
      if (backend !== this.backend) return;
      fill(
        this.searchHits,
        h("p", { class: "note" }, `${hits.length} hit(s) for “${query}”, ${mode}.`),
        hits.length
          ? h(
              "ol",
              { class: "hits" },
              hits.map((hit) =>
                h(
                  "li",
                  { class: `hit ${hit.role}`, "data-session": hit.sessionId },
                  h("span", { class: "hit-meta" }, `${hit.role} · session “${hit.sessionId}” · score ${hit.score.toFixed(3)}`),
                  h("span", { class: "text" }, hit.content),
                ),
              ),
            )
          : null,
      );
    } catch (err) {
      fill(this.searchHits, h("p", { class: "error" }, describeError(err)));
      this.say(describeError(err), "error");
    } finally {
      this.searchHits.removeAttribute("aria-busy");
      this.refreshRate();
    }
  }

  async onForget() {
    await this.act(async () => {
      await this.backend.forget(this.who);
      fill(this.exportView);
      fill(this.searchHits);
      this.transcript.append(h("li", { class: "msg system" }, h("span", { class: "text" }, `Forgot everything of ${this.tenant}.`)));
      this.say(`Forgot ${this.tenant}: memory and spend deleted; no other tenant touched.`);
    });
  }

  /** Runs a memory action, shows its error if any, then re-reads the tenant's state. */
  async act(fn, refresh = true) {
    try {
      await fn();
    } catch (err) {
      this.say(describeError(err), "error");
    }
    if (refresh) {
      await Promise.all([this.refresh(), this.app.refreshOrg(this.who.org)]);
      this.app.refreshStats();
    }
  }

  /** The backend changed (mode or model): a marker in the chat, then the new state. */
  async modeChanged(label) {
    if (this.transcript.childElementCount > 0) {
      this.transcript.append(h("li", { class: "msg system" }, h("span", { class: "text" }, label)));
    }
    fill(this.exportView);
    fill(this.searchHits);
    this.say("");
    await this.refresh();
  }

  async refresh() {
    await Promise.all([this.refreshMemory(), this.refreshUsage(), this.refreshAudit()]);
    this.refreshRate();
  }

  async guard(fn, target) {
    try {
      await fn();
    } catch (err) {
      fill(target, h("p", { class: "error" }, describeError(err)));
    }
  }

  refreshMemory() {
    const backend = this.backend;
    const editable = backend.canEditMemory;
    for (const c of this.memoryForms.querySelectorAll("input, button")) c.disabled = !editable;
    this.memoryNote.textContent = editable ? "" : "Setting blocks and properties works in in-browser mode: the Worker has no route for it.";
    return this.guard(async () => {
      const mem = await backend.memory(this.who);
      if (backend !== this.backend) return;
      const props = Object.entries(mem.properties ?? {});
      const parts = [];
      const facts = mem.facts ?? [];
      if (mem.sessions.length === 0 && mem.blocks.length === 0 && props.length === 0 && facts.length === 0) {
        parts.push(h("p", { class: "empty" }, `Nothing is kept for ${this.tenant}.`));
      }
      for (const s of mem.sessions) {
        parts.push(
          h(
            "details",
            { open: true, class: "session-memory" },
            h("summary", {}, `Session “${s.id}”: ${s.messages.length} message(s)`),
            h("ol", { class: "messages" }, s.messages.map((m) => h("li", { class: `m ${m.role}` }, h("span", { class: "who" }, m.role), " ", m.content))),
          ),
        );
      }
      if (mem.blocks.length) {
        parts.push(h("h4", {}, "Working-memory blocks"), h("dl", { class: "blocks" }, mem.blocks.map((b) => [h("dt", {}, b.label), h("dd", {}, b.text)])));
      }
      if (facts.length) {
        parts.push(h("h4", {}, "Facts (what the agent believes now)"), h("dl", { class: "facts" }, facts.map((f) => [h("dt", {}, `${f.subject}: ${f.predicate}`), h("dd", {}, f.object)])));
      }
      if (props.length) {
        parts.push(h("h4", {}, "Properties"), h("dl", { class: "properties" }, props.map(([k, v]) => [h("dt", {}, k), h("dd", {}, JSON.stringify(v))])));
      }
      if (mem.exchanges !== undefined) parts.push(h("p", { class: "note" }, `GET /agent/history/${this.who.user}: ${mem.exchanges} exchange(s).`));
      fill(this.memoryView, parts);
    }, this.memoryView);
  }

  refreshUsage() {
    const backend = this.backend;
    return this.guard(async () => {
      const report = await backend.usage(this.who);
      if (backend !== this.backend) return;
      fill(this.meters, limitRows(report));
      this.totals.textContent = totalsText(report.totals);
      this.totals.dataset.tokens = String(report.totals.totalTokens);
    }, this.meters);
  }

  refreshAudit() {
    return this.guard(() => this.audit.refresh(), this.auditView);
  }

  /** The rate line; while refused, it counts down once a second until requests are let in. */
  refreshRate() {
    clearTimeout(this.rateTimer);
    const r = this.backend.rate(this.who);
    if (r.retryInMs > 0) {
      this.rateLine.dataset.limited = "true";
      this.rateLine.textContent = `Rate limited, retry in ${Math.ceil(r.retryInMs / 1000)} s (${r.rule}).`;
      this.rateTimer = setTimeout(() => this.refreshRate(), Math.min(1000, r.retryInMs));
      return;
    }
    this.rateLine.dataset.limited = "false";
    if (r.known) {
      this.rateLine.textContent = `Rate limit (${r.rule}): ${r.remaining} of ${r.capacity} requests left.`;
      // Tokens drip back in: keep the count fresh while the bucket is not full.
      if (r.remaining < r.capacity) this.rateTimer = setTimeout(() => this.refreshRate(), 1000);
    } else {
      this.rateLine.textContent = `Rate limit ${r.rule}: a refused request shows its retry time here.`;
    }
  }
}
