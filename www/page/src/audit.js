// One tenant's audit entries, each entry's `data` editable, and "Verify chain": the page
// hands the (possibly edited) entries to the package's `verifyAudit(entries, key)` and
// marks the first link it reports broken.
import { fill, h, labelled } from "./dom.js";

export class AuditView {
  constructor(root, { who, tenant, backend }) {
    this.who = who;
    this.root = root;
    this.tenant = tenant;
    this.backendOf = backend;
    this.entries = [];
    this.signature = null;
  }

  async refresh() {
    const backend = this.backendOf();
    if (backend.mode !== "browser") {
      this.signature = null;
      return fill(this.root, h("p", { class: "empty" }, "The audit log is shown in in-browser mode only."));
    }
    if (!backend.auditAvailable) {
      this.signature = null;
      return fill(this.root, h("p", { class: "empty", "data-audit": "unavailable" }, "audit log not available in this build"));
    }
    const entries = await backend.auditLog(this.who);
    // Re-rendering would throw away edits in progress: only redraw when the log changed.
    const signature = `${entries.length}:${entries.at(-1)?.mac ?? ""}`;
    if (signature === this.signature) return;
    this.signature = signature;
    this.entries = entries;
    this.render();
  }

  render() {
    if (this.entries.length === 0) {
      return fill(this.root, h("p", { class: "empty" }, "No audit entries yet."));
    }
    this.items = this.entries.map((entry, index) => {
      const area = h("textarea", { rows: 3, spellcheck: "false", class: "audit-data" });
      area.value = JSON.stringify(entry.data);
      const meta = h(
        "p",
        { class: "audit-meta" },
        h("span", { class: "seq" }, `#${entry.seq}`),
        " ",
        h("strong", {}, entry.type),
        entry.sessionId ? ` · session ${entry.sessionId}` : "",
        ` · ${new Date(entry.ts).toLocaleTimeString("en-GB")}`,
      );
      const mark = h("p", { class: "audit-mark" });
      const li = h("li", { class: "audit-entry", "data-index": index }, meta, labelled(`Data of entry #${entry.seq}`, area), mark);
      return { li, area, mark, entry };
    });
    this.output = h("p", { class: "verify-result", role: "status" });
    fill(
      this.root,
      h("ol", { class: "audit-entries", start: 0 }, this.items.map((i) => i.li)),
      h("p", { class: "note" }, "Edit any entry's data, then verify: the MAC chain shows where it was changed."),
      h("button", { type: "button", class: "verify", onclick: () => this.verify() }, "Verify chain"),
      this.output,
    );
  }

  async verify() {
    const backend = this.backendOf();
    for (const i of this.items) {
      i.li.classList.remove("broken", "invalid");
      i.mark.textContent = "";
    }
    const edited = [];
    for (const i of this.items) {
      const original = JSON.stringify(i.entry.data);
      if (i.area.value === original) {
        edited.push(i.entry);
        continue;
      }
      try {
        edited.push({ ...i.entry, data: JSON.parse(i.area.value) });
      } catch {
        i.li.classList.add("invalid");
        i.mark.textContent = "This is not valid JSON.";
        this.output.textContent = `Entry #${i.entry.seq}: its data is not valid JSON; fix it to verify.`;
        return;
      }
    }
    // Each entry links to the one before it in the agent's single chain, which interleaves
    // every tenant: a tenant's own entries alone have gaps. So the whole chain is verified,
    // with this tenant's (possibly edited) entries in their places. A build that only has
    // `auditLog` gets the tenant's entries verified as they are.
    let chain = edited;
    if (backend.wholeChainAvailable) {
      const mine = new Map(edited.map((e) => [e.seq, e]));
      chain = (await backend.auditEntries()).map((e) => mine.get(e.seq) ?? e);
    }
    const result = await backend.verifyAudit(chain);
    const scope = chain === edited ? `${this.tenant}'s entries` : `the agent's chain (all tenants, ${edited.length} of them ${this.tenant}'s)`;
    if (result.ok) {
      this.output.dataset.ok = "true";
      this.output.textContent = `Chain verified: ${result.checked} entries of ${scope}, no tampering.`;
      return;
    }
    this.output.dataset.ok = "false";
    const broken = result.firstBroken ?? {};
    const seq = broken.seq ?? chain[broken.index]?.seq;
    const item = this.items.find((i) => i.entry.seq === seq);
    const why = broken.message ? `${broken.reason} (${broken.message})` : broken.reason;
    if (item) {
      item.li.classList.add("broken");
      item.mark.textContent = `First broken link: ${why}`;
      item.li.scrollIntoView({ block: "nearest" });
    }
    this.output.dataset.index = String(broken.index);
    this.output.textContent =
      `Tampering detected: first broken link at index ${broken.index} of ${scope} (seq ${seq}): ${why}. ` +
      `Entries verified before it: ${result.checked}.`;
  }
}
