// Tiny SVG charts for the bench results: no plotting dependency, readable in any browser
// and on GitHub. Grouped horizontal bars (one group per row label, one bar per series)
// and a line chart over a numeric x axis.

const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const num = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** rows: [{ label, values: { [series]: number } }]; log scale when values span decades. */
export function barChart({ title, unit, rows, series }) {
  const max = Math.max(...rows.flatMap((r) => series.map((s) => r.values[s] ?? 0)));
  const min = Math.min(...rows.flatMap((r) => series.map((s) => r.values[s] ?? Infinity)));
  const log = max / Math.max(min, 1e-9) > 100;
  const scale = (v) => (log ? Math.log10(1 + v) / Math.log10(1 + max) : v / max);
  const barH = 16, gap = 6, left = 190, width = 760, plotW = width - left - 90;
  let y = 40;
  let body = "";
  for (const row of rows) {
    body += `<text x="8" y="${y + 12}" font-weight="bold">${esc(row.label)}</text>`;
    y += 18;
    series.forEach((s, i) => {
      const v = row.values[s];
      if (v === undefined) return;
      const w = Math.max(2, scale(v) * plotW);
      body += `<text x="${left - 8}" y="${y + 12}" text-anchor="end">${esc(s)}</text>`;
      body += `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[i % COLORS.length]}"/>`;
      body += `<text x="${left + w + 6}" y="${y + 12}">${num(v)} ${esc(unit)}</text>`;
      y += barH + gap;
    });
    y += 10;
  }
  return svg(width, y + 10, `${title}${log ? " (log scale)" : ""}`, body);
}

/** points: { [series]: [[x, y], ...] }, x on a log axis when it spans decades. */
export function lineChart({ title, xLabel, yLabel, points }) {
  const all = Object.values(points).flat();
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const y1 = Math.max(...ys) * 1.1;
  const logX = x1 / x0 >= 100;
  const W = 760, H = 360, L = 70, R = 160, T = 40, B = 50;
  const px = (x) => L + ((logX ? Math.log10(x / x0) / Math.log10(x1 / x0) : (x - x0) / (x1 - x0 || 1)) * (W - L - R));
  const py = (y) => H - B - (y / y1) * (H - T - B);
  let body = `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  for (const x of [...new Set(xs)]) body += `<text x="${px(x)}" y="${H - B + 18}" text-anchor="middle">${esc(x >= 1000 ? `${x / 1000}k` : x)}</text>`;
  for (let i = 0; i <= 4; i++) body += `<text x="${L - 6}" y="${py((y1 * i) / 4) + 4}" text-anchor="end">${num((y1 * i) / 4)}</text>`;
  body += `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`;
  body += `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  Object.entries(points).forEach(([name, pts], i) => {
    const c = COLORS[i % COLORS.length];
    body += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ")}"/>`;
    for (const [x, y] of pts) body += `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`;
    body += `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${c}"/><text x="${W - R + 30}" y="${T + i * 20 + 11}">${esc(name)}</text>`;
  });
  return svg(W, H, title, body);
}

function svg(w, h, title, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/><text x="8" y="22" font-size="15" font-weight="bold">${esc(title)}</text>
${body}
</svg>
`;
}
