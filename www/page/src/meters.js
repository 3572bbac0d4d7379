// A usage report (a user's or an org's) as meters: one per limit, with what is used,
// reserved and left, and a line of totals.
import { fmtInt, fmtUsd, h, uid } from "./dom.js";

const METRIC = {
  totalTokens: "Tokens",
  inputTokens: "Input tokens",
  outputTokens: "Output tokens",
  costUsd: "Cost",
  requests: "Requests",
};

const windowName = (w) => (typeof w === "object" && w ? `${fmtInt(w.ms)} ms` : w === "lifetime" ? "lifetime" : `per ${w}`);
const amount = (metric, n) => (metric === "costUsd" ? fmtUsd(n) : fmtInt(n));

/** One element per limit of `report`, or a note that none applies. */
export function limitRows(report) {
  const rows = report.limits.map((l) => {
    const id = uid("limit");
    const held = l.used + l.reserved;
    return h(
      "div",
      { class: "limit", "data-metric": l.metric, "data-scope": l.scope },
      h("span", { id, class: "limit-name" }, `${METRIC[l.metric] ?? l.metric} (${l.scope}, ${windowName(l.window)})`),
      h("meter", { min: 0, max: l.limit, value: held, low: l.limit * 0.7, high: l.limit * 0.9, optimum: 0, "aria-labelledby": id }),
      h(
        "span",
        { class: "limit-text" },
        `${amount(l.metric, l.used)} used${l.reserved ? ` + ${amount(l.metric, l.reserved)} reserved` : ""} of ${amount(l.metric, l.limit)} (${amount(l.metric, l.remaining)} left)`,
      ),
    );
  });
  return rows.length ? rows : h("p", { class: "empty" }, "No budget limits apply.");
}

/** The report's totals as one sentence. */
export function totalsText(t) {
  return (
    `Charged so far: ${fmtInt(t.totalTokens)} tokens (${fmtInt(t.inputTokens)} in, ${fmtInt(t.outputTokens)} out), ` +
    `${fmtUsd(t.costUsd)}, ${fmtInt(t.requests)} request(s).`
  );
}
