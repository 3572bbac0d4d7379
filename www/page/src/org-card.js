// One org's card: the ceiling all its users share (its budget meter over their own), the
// knowledge its users' prompts hold and nobody else's, and erasure of the whole org.
import { describeError } from "./errors.js";
import { fill, h, labelled, uid } from "./dom.js";
import { limitRows, totalsText } from "./meters.js";

export class OrgCard {
  constructor(app, org) {
    this.app = app;
    this.org = org;
    this.build();
  }

  get backend() {
    return this.app.backend;
  }

  build() {
    const o = this.org;
    const titleId = uid("org");
    this.meters = h("div", { class: "meters" });
    this.totals = h("p", { class: "totals" });
    this.users = h("p", { class: "org-users" });
    this.knowledge = h("div", { class: "org-knowledge" });
    this.notice = h("p", { class: "notice", role: "status" });
    this.blockLabel = h("input", { type: "text", name: "label", autocomplete: "off", required: true, value: "policy" });
    this.blockText = h("input", { type: "text", name: "text", autocomplete: "off", required: true, placeholder: "Refunds within 30 days." });
    this.el = h(
      "article",
      { class: "org", "data-org": o, "aria-labelledby": titleId },
      h("header", { class: "tenant-head" }, h("h2", { id: titleId }, o), h("span", { class: "badge" }, "organisation")),
      this.users,
      h("section", { class: "budget" }, h("h3", {}, `Budget of ${o} (all its users together)`), this.meters, this.totals),
      h(
        "section",
        { class: "knowledge" },
        h("h3", {}, "Org knowledge"),
        this.knowledge,
        h(
          "form",
          { class: "set-org-block", onsubmit: (e) => this.onSetBlock(e) },
          labelled(`Block label for ${o}`, this.blockLabel),
          labelled(`Block text for ${o}`, this.blockText),
          h("button", { type: "submit" }, "Set org block"),
        ),
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "forget-org danger", onclick: () => this.onForget() }, `Forget org ${o}`)),
      this.notice,
    );
  }

  say(text, kind = "info") {
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
  }

  async onSetBlock(event) {
    event.preventDefault();
    try {
      await this.backend.setOrgBlock(this.org, this.blockLabel.value, this.blockText.value);
      this.say(`Block “${this.blockLabel.value}” set for ${this.org}: in its users' prompts only.`);
    } catch (err) {
      this.say(describeError(err), "error");
    }
    await this.refresh();
  }

  async onForget() {
    try {
      const users = await this.backend.forgetOrg(this.org);
      this.say(`Forgot ${this.org}: ${users} user(s), its knowledge and spend; no other org touched.`);
    } catch (err) {
      this.say(describeError(err), "error");
    }
    await Promise.all([this.refresh(), ...this.app.panelsOf(this.org).map((p) => p.refresh())]);
    this.app.refreshStats();
  }

  async refresh() {
    const backend = this.backend;
    if (!backend) return;
    fill(this.users, `Users on this page: ${this.app.panelsOf(this.org).map((p) => p.who.user).join(", ")}.`);
    try {
      const [report, blocks] = await Promise.all([backend.orgUsage(this.org), backend.orgBlocks(this.org)]);
      if (backend !== this.backend) return;
      fill(this.meters, limitRows(report));
      this.totals.textContent = totalsText(report.totals);
      this.totals.dataset.tokens = String(report.totals.totalTokens);
      fill(
        this.knowledge,
        blocks.length
          ? h("dl", { class: "blocks" }, blocks.map((b) => [h("dt", {}, b.label), h("dd", {}, b.text)]))
          : h("p", { class: "empty" }, `No knowledge is kept for ${this.org}.`),
      );
    } catch (err) {
      fill(this.meters, h("p", { class: "error" }, describeError(err)));
    }
  }
}
