// Layer × head maps for the run and compare views: a numeric heatmap (BOS mass, entropy, local
// mass or a Δ), and a class map whose four classes differ by colour (Okabe–Ito, safe for colour
// blindness) AND by glyph. Every map has a "table view" toggle (aria-pressed) that shows the
// same numbers as a table: the map's text alternative. With a headHref(row) option a click on a
// cell opens that head's view, and the table view's cells are links to it (the keyboard path).

import { formatNumber, h } from "./format.js";

export const CLASS_STYLE = {
  healthy: { color: "#009E73", glyph: "○", ink: "#fff", label: "healthy" },
  "low-entropy": { color: "#56B4E9", glyph: "≈", ink: "#10233a", label: "low-entropy" },
  "bos-sink": { color: "#E69F00", glyph: "▲", ink: "#1d1300", label: "BOS-sink" },
  dead: { color: "#1d1d1d", glyph: "✕", ink: "#fff", label: "dead" },
};
export const CLASS_NAMES = ["healthy", "low-entropy", "bos-sink", "dead"];

// Viridis at five stops (perceptually even, readable in grey and by colour-blind readers).
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
// Blue – white – red for signed differences.
const DIVERGING = [[33, 102, 172], [247, 247, 247], [178, 24, 43]];

function ramp(stops, t) {
  t = Math.max(0, Math.min(1, t));
  const x = t * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `rgb(${c[0]} ${c[1]} ${c[2]})`;
}

function shape(rows) {
  let layers = 0;
  let heads = 0;
  for (const r of rows) {
    layers = Math.max(layers, r.layer + 1);
    heads = Math.max(heads, r.head + 1);
  }
  return { layers, heads, at: new Map(rows.map((r) => [`${r.layer}:${r.head}`, r])) };
}

// The sequential colour of t in [0, 1], for other views' maps.
export function viridis(t) {
  return ramp(VIRIDIS, t);
}

// A toggle button that swaps a figure for its table.
export function withTableView(title, figure, table, id) {
  const tableWrap = h("div", { class: "map-table", hidden: true }, table);
  const btn = h("button", { type: "button", class: "small toggle", "aria-pressed": "false",
    "aria-controls": `${id}-table` }, "table view");
  tableWrap.id = `${id}-table`;
  btn.addEventListener("click", () => {
    const on = btn.getAttribute("aria-pressed") !== "true";
    btn.setAttribute("aria-pressed", String(on));
    tableWrap.hidden = !on;
    figure.hidden = on;
  });
  return h("figure", { class: "map", id, dataset: { map: id } },
    h("figcaption", null, h("b", null, title), " ", btn), figure, tableWrap);
}

function gridOf(rows, cellFor, label, headHref) {
  const { layers, heads, at } = shape(rows);
  // Smaller cells for many heads, so that two maps of a 32-head model still sit side by side.
  const size = heads > 24 ? 15 : heads > 12 ? 18 : 22;
  const grid = h("div", {
    class: `map-grid${headHref ? " linked" : ""}`, role: "img", "aria-label": label,
    style: { gridTemplateColumns: `2.4em repeat(${heads}, ${size}px)` },
  });
  grid.style.setProperty("--cell", `${size}px`);
  if (headHref) {
    grid.addEventListener("click", (ev) => {
      const cell = ev.target.closest(".cell");
      const r = cell && at.get(`${cell.dataset.layer}:${cell.dataset.head}`);
      if (r) location.hash = headHref(r);
    });
  }
  grid.appendChild(h("div", { class: "corner", "aria-hidden": "true" }, "L\\H"));
  for (let c = 0; c < heads; c++) grid.appendChild(h("div", { class: "col-label", "aria-hidden": "true" }, String(c)));
  for (let l = 0; l < layers; l++) {
    grid.appendChild(h("div", { class: "row-label", "aria-hidden": "true" }, String(l)));
    for (let c = 0; c < heads; c++) {
      const r = at.get(`${l}:${c}`);
      grid.appendChild(r ? cellFor(r) : h("div", { class: "cell missing" }));
    }
  }
  return grid;
}

// A table with one row per layer and one column per head; text(r) is the cell's content.
function layerTable(rows, caption, text, headHref) {
  const { layers, heads, at } = shape(rows);
  const head = h("tr", null, h("th", { scope: "col" }, "layer \\ head"));
  for (let c = 0; c < heads; c++) head.appendChild(h("th", { scope: "col" }, String(c)));
  const body = h("tbody");
  for (let l = 0; l < layers; l++) {
    const tr = h("tr", null, h("th", { scope: "row" }, String(l)));
    for (let c = 0; c < heads; c++) {
      const r = at.get(`${l}:${c}`);
      const content = r ? text(r) : "—";
      tr.appendChild(h("td", { class: "num" }, r && headHref
        ? h("a", { href: headHref(r), "aria-label": `layer ${l} head ${c}: ${content}` }, content) : content));
    }
    body.appendChild(tr);
  }
  return h("table", { class: "grid-table compact" }, h("caption", null, caption), h("thead", null, head), body);
}

// metric: field of each row; range: [lo, hi] or null for the rows' own min/max; diverging:
// a signed map centred on 0.
export function numericMap(rows, { id, title, metric, range = null, diverging = false, headHref = null }) {
  const values = rows.map((r) => r[metric]).filter((v) => typeof v === "number" && Number.isFinite(v));
  let lo = range ? range[0] : Math.min(...values);
  let hi = range ? range[1] : Math.max(...values);
  if (diverging) {
    const m = Math.max(1e-9, ...values.map(Math.abs));
    lo = -m;
    hi = m;
  }
  if (!(hi > lo)) hi = lo + 1;
  const colour = (v) => diverging ? ramp(DIVERGING, (v - lo) / (hi - lo)) : ramp(VIRIDIS, (v - lo) / (hi - lo));
  const fig = h("div", { class: "map-figure" },
    gridOf(rows, (r) => h("div", {
      class: "cell", title: `layer ${r.layer} head ${r.head}: ${metric} ${formatNumber(r[metric], 4)}`,
      style: { background: typeof r[metric] === "number" ? colour(r[metric]) : "#ddd" },
      dataset: { layer: r.layer, head: r.head, value: r[metric] },
    }), `${title}, ${formatNumber(lo, 3)} to ${formatNumber(hi, 3)}; table view has the values`, headHref),
    h("div", { class: "map-scale muted", "aria-hidden": "true" }, formatNumber(lo, 3), " ",
      h("span", { class: "ramp" }, [0, 0.25, 0.5, 0.75, 1].map((t) =>
        h("span", { style: { background: diverging ? ramp(DIVERGING, t) : ramp(VIRIDIS, t) } }))),
      " ", formatNumber(hi, 3)));
  return withTableView(title, fig, layerTable(rows, `${title} by layer and head`, (r) => formatNumber(r[metric], 4), headHref), id);
}

export function classLegend() {
  return h("ul", { class: "class-legend", "aria-label": "Head classes" }, CLASS_NAMES.map((c) =>
    h("li", null, h("span", { class: "cls-cell", "aria-hidden": "true",
      style: { background: CLASS_STYLE[c].color, color: CLASS_STYLE[c].ink } }, CLASS_STYLE[c].glyph),
    " ", CLASS_STYLE[c].label)));
}

// field: the row's class field ("class", or "class_a"/"class_b" of a comparison).
export function classMap(rows, { id, title, field = "class", headHref = null }) {
  const fig = h("div", { class: "map-figure" },
    gridOf(rows, (r) => {
      const s = CLASS_STYLE[r[field]] || { color: "#ccc", glyph: "?", ink: "#000" };
      return h("div", {
        class: `cell cls-cell cls-${r[field]}`, title: `layer ${r.layer} head ${r.head}: ${r[field]}`,
        style: { background: s.color, color: s.ink }, dataset: { layer: r.layer, head: r.head, class: r[field] },
      }, s.glyph);
    }, `${title}; table view lists each head's class`, headHref),
    classLegend());
  return withTableView(title, fig, layerTable(rows, `${title} by layer and head`, (r) => r[field], headHref), id);
}

// Histogram of one metric in [0, 1] over bins bins, as bars with the counts written on them.
export function histogram(rows, { id, title, metric, bins = 10 }) {
  const counts = new Array(bins).fill(0);
  for (const r of rows) {
    const v = r[metric];
    if (typeof v !== "number") continue;
    counts[Math.min(bins - 1, Math.max(0, Math.floor(v * bins)))] += 1;
  }
  const max = Math.max(1, ...counts);
  const label = (i) => `${(i / bins).toFixed(1)}–${((i + 1) / bins).toFixed(1)}`;
  const bars = h("div", { class: "histogram", role: "img",
    "aria-label": `${title}: ${counts.map((c, i) => `${label(i)}: ${c}`).join(", ")}` },
  counts.map((c, i) => h("div", { class: "hbar", dataset: { bin: i, count: c } },
    h("span", { class: "hcount" }, c ? String(c) : ""),
    h("span", { class: "hfill", style: { height: `${(100 * c) / max}%` } }),
    h("span", { class: "hlabel" }, (i / bins).toFixed(1)))));
  const table = h("table", { class: "grid-table compact" }, h("caption", null, title),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, metric), h("th", { scope: "col" }, "heads"))),
    h("tbody", null, counts.map((c, i) => h("tr", null, h("td", null, label(i)), h("td", { class: "num" }, String(c))))));
  return withTableView(title, h("div", { class: "map-figure" }, bars), table, id);
}
