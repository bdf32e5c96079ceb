// Building DOM nodes without HTML parsing: every value from the API ends up as a text node or
// an attribute set through the DOM, never parsed as markup. Event handlers are functions only.

/** el("td", {class: "num", title: t}, child, "text", ...) -> HTMLElement. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of the element with id `id`. */
export function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren();
  append(node, children);
  return node;
}

export function setText(id, value) {
  document.getElementById(id).textContent = value === undefined || value === null ? "–" : String(value);
}

/** A hash shown short, full in the tooltip (and copyable by selecting it). */
export function shortHex(hex, n = 12) {
  if (typeof hex !== "string") return el("span", { class: "muted" }, "–");
  return el("code", { title: hex }, hex.length > n ? `${hex.slice(0, n)}…` : hex);
}

export function fmtTime(ms) {
  if (typeof ms !== "number") return "–";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtAge(ms, now = Date.now()) {
  if (typeof ms !== "number") return "–";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`;
}

/** A table body of rows; `columns` = [[header, (item) -> cell content, class?], ...]. */
export function table(columns, items, { empty = "nothing yet", rowAttrs = () => ({}) } = {}) {
  const head = el("thead", {}, el("tr", {}, columns.map(([h, , cls]) => el("th", { class: cls }, h))));
  const rows = items.length
    ? items.map((item) => el("tr", rowAttrs(item), columns.map(([, f, cls]) => el("td", { class: cls }, f(item)))))
    : [el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, empty))];
  return el("table", {}, head, el("tbody", {}, rows));
}
