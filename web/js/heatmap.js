// The layer × head heatmap of a diagnosis: one cell per head, its hue the head's class and its
// darkness the head's BOS mass, a hover tooltip with every statistic, a legend, and the class
// counts. Input: the rows of GET /api/v1/runs/{id}/heads for one checkpoint.

import { formatNumber, h } from "./format.js";

export const CLASSES = [
  { name: "healthy", hue: 145, sat: 45, label: "healthy" },
  { name: "low-entropy", hue: 268, sat: 55, label: "low-entropy" },
  { name: "bos-sink", hue: 30, sat: 90, label: "BOS-sink" },
  { name: "dead", hue: 356, sat: 70, label: "dead" },
];
const CLASS_BY_NAME = Object.fromEntries(CLASSES.map((c) => [c.name, c]));

export function cellColor(cls, bos) {
  const c = CLASS_BY_NAME[cls] || { hue: 0, sat: 0 };
  const b = Math.max(0, Math.min(1, Number(bos) || 0));
  const light = 93 - 58 * b;
  return `hsl(${c.hue} ${c.sat}% ${light.toFixed(1)}%)`;
}

export function classCounts(rows) {
  const counts = Object.fromEntries(CLASSES.map((c) => [c.name, 0]));
  for (const r of rows) counts[r.class] = (counts[r.class] || 0) + 1;
  return counts;
}

export function renderClassCounts(rows) {
  const counts = classCounts(rows);
  const total = rows.length || 1;
  const collapsed = (counts["bos-sink"] || 0) + (counts.dead || 0);
  const items = CLASSES.map((c) =>
    h("span", { class: "class-count", dataset: { class: c.name } },
      h("span", { class: "swatch", style: { background: cellColor(c.name, c.name === "dead" ? 1 : c.name === "bos-sink" ? 0.75 : 0.3) } }),
      c.label, " ", h("b", null, String(counts[c.name] || 0)),
      h("span", { class: "muted" }, ` ${((100 * (counts[c.name] || 0)) / total).toFixed(0)}%`)));
  items.push(h("span", { class: "class-count collapsed" }, "collapsed (BOS-sink + dead) ",
    h("b", null, String(collapsed)), h("span", { class: "muted" }, ` of ${rows.length} heads`)));
  return h("div", { class: "class-counts" }, items);
}

export function renderHeatmap(rows) {
  let nLayers = 0;
  let nHeads = 0;
  for (const r of rows) {
    nLayers = Math.max(nLayers, r.layer + 1);
    nHeads = Math.max(nHeads, r.head + 1);
  }
  const size = Math.max(9, Math.min(26, Math.floor(560 / Math.max(1, nHeads))));
  const grid = h("div", {
    class: "heatmap-grid",
    style: { gridTemplateColumns: `2.6em repeat(${nHeads}, ${size}px)`, gridAutoRows: `${Math.min(size, 15)}px` },
  });
  const labelEvery = nHeads > 24 ? 4 : nHeads > 12 ? 2 : 1;
  grid.appendChild(h("div", { class: "corner", title: "layer \\ head" }, "L\\H"));
  for (let c = 0; c < nHeads; c++)
    grid.appendChild(h("div", { class: "col-label" }, c % labelEvery === 0 ? String(c) : ""));
  const byPos = new Map(rows.map((r) => [`${r.layer}:${r.head}`, r]));
  for (let l = 0; l < nLayers; l++) {
    grid.appendChild(h("div", { class: "row-label" }, String(l)));
    for (let c = 0; c < nHeads; c++) {
      const r = byPos.get(`${l}:${c}`);
      if (!r) {
        grid.appendChild(h("div", { class: "cell missing" }));
        continue;
      }
      grid.appendChild(h("div", {
        class: `cell cls-${r.class}`,
        style: { background: cellColor(r.class, r.bos_mass) },
        dataset: { layer: l, head: c },
      }));
    }
  }

  const tip = h("div", { class: "tooltip", hidden: true });
  const wrap = h("div", { class: "heatmap" }, grid, tip);
  grid.addEventListener("mousemove", (ev) => {
    const cell = ev.target.closest(".cell");
    if (!cell || cell.classList.contains("missing")) {
      tip.hidden = true;
      return;
    }
    const r = byPos.get(`${cell.dataset.layer}:${cell.dataset.head}`);
    tip.replaceChildren(
      h("div", { class: "tip-title" }, `layer ${r.layer} · head ${r.head}`),
      h("div", { class: `tip-class cls-${r.class}` }, r.class),
      h("table", null,
        h("tr", null, h("td", null, "BOS mass"), h("td", null, formatNumber(r.bos_mass, 3))),
        h("tr", null, h("td", null, "entropy"), h("td", null, formatNumber(r.entropy, 3))),
        h("tr", null, h("td", null, "local mass"), h("td", null, formatNumber(r.local_mass, 3)))));
    tip.hidden = false;
    const box = wrap.getBoundingClientRect();
    let x = ev.clientX - box.left + 14;
    const y = ev.clientY - box.top + 14;
    if (x + tip.offsetWidth > box.width) x = ev.clientX - box.left - tip.offsetWidth - 10;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  });
  grid.addEventListener("mouseleave", () => (tip.hidden = true));

  const legend = h("div", { class: "heatmap-legend muted" },
    "hue = class, darker = more attention on the first token (BOS mass 0 → 1) ",
    h("span", { class: "ramp" }, [0, 0.25, 0.5, 0.75, 1].map((b) =>
      h("span", { style: { background: cellColor("", b) } }))));
  return h("div", null, wrap, legend);
}
