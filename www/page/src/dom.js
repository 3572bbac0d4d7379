// Small DOM helpers: the page builds its panels from code, with text set through
// textContent only, so nothing a tenant or a model writes is ever parsed as HTML.

/** `h("p", { class: "x", onclick }, "text", child)`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let nextId = 0;
/** A document-unique id for label/aria wiring (tenant ids may hold any character). */
export const uid = (prefix) => `${prefix}-${++nextId}`;

/** A labelled control: [label, control], the label's `for` wired to the control's id. */
export function labelled(text, control) {
  control.id ||= uid("f");
  return [h("label", { for: control.id }, text), control];
}

export const fmtInt = (n) => Number(n ?? 0).toLocaleString("en-US");
export const fmtUsd = (n) => `$${Number(n ?? 0).toFixed(6)}`;

/** The UTF-8 length of a string: the runtime's id rules count bytes. */
export const utf8Bytes = (s) => new TextEncoder().encode(s).length;
