// One head's token-by-token attention pattern (an inspect run's matrix from
// GET /api/v1/runs/{id}/attention): query tokens down, key tokens across, drawn on a canvas with
// the viridis ramp (the causal upper triangle left blank). Hovering a cell, or moving a focus
// cell with the arrow keys (Home/End, PageUp/PageDown too) once the matrix has the keyboard
// focus, reads out the pair and its weight in a live region. A "table view" toggle
// (aria-pressed) swaps the picture for the same weights as a table, its text alternative.

import { formatNumber, h } from "./format.js";
import { viridis } from "./head_maps.js";

// How a token is shown on an axis: whitespace made visible, long ones cut.
export function tokenLabel(t) {
  const s = String(t).replace(/ /g, "␣").replace(/\n/g, "⏎").replace(/\t/g, "⇥");
  return s.length > 14 ? `${s.slice(0, 13)}…` : s;
}

const FONT = "11px system-ui, sans-serif";

export class AttentionView {
  // probs: rows of the causal matrix (row t has t + 1 weights); tokens: T strings.
  constructor({ probs, tokens, title }) {
    this.probs = probs;
    this.tokens = tokens;
    this.T = probs.length;
    this.focus = { q: this.T - 1, k: 0 };
    this.cell = Math.max(3, Math.min(24, Math.floor(560 / Math.max(1, this.T))));
    this.readout = h("p", { class: "attn-readout", id: "attn-readout", "aria-live": "polite" },
      "Hover a cell, or focus the matrix and use the arrow keys, to read a weight.");
    this.canvas = h("canvas", {
      id: "attn-canvas", tabindex: 0, role: "application",
      "aria-label": `${title}: ${this.T} query tokens down, the same tokens as keys across. ` +
        "Arrow keys move between cells; the weight is read out below. The table view lists every weight.",
      "aria-describedby": "attn-readout",
    });
    this.figure = h("div", { class: "attn-figure" }, this.canvas,
      h("div", { class: "map-scale muted", "aria-hidden": "true" }, "0 ",
        h("span", { class: "ramp" }, [0, 0.25, 0.5, 0.75, 1].map((t) => h("span", { style: { background: viridis(t) } }))), " 1"));
    this.tableWrap = h("div", { class: "map-table", id: "attn-table-wrap", hidden: true });
    this.toggle = h("button", { type: "button", id: "attn-table-toggle", class: "small toggle", "aria-pressed": "false",
      "aria-controls": "attn-table-wrap" }, "table view");
    this.toggle.addEventListener("click", () => this.setTableView(this.toggle.getAttribute("aria-pressed") !== "true"));
    this.el = h("figure", { class: "map attn", id: "attn" },
      h("figcaption", null, h("b", null, title), " ", this.toggle), this.figure, this.readout, this.tableWrap);
    this.draw();
    this.canvas.addEventListener("mousemove", (ev) => {
      const at = this.cellAt(ev.offsetX, ev.offsetY);
      if (at) this.moveTo(at.q, at.k, false);
    });
    this.canvas.addEventListener("mouseleave", () => this.draw());
    this.canvas.addEventListener("focus", () => this.moveTo(this.focus.q, this.focus.k, true));
    this.canvas.addEventListener("blur", () => this.draw());
    this.canvas.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  setTableView(on) {
    this.toggle.setAttribute("aria-pressed", String(on));
    if (on && !this.tableWrap.firstChild) this.tableWrap.appendChild(this.table());
    this.tableWrap.hidden = !on;
    this.figure.hidden = on;
  }

  // Margins fit the longest token label: left for the query tokens, top (rotated) for the keys.
  layout(ctx) {
    ctx.font = FONT;
    this.showLabels = this.cell >= 9;
    const widest = this.showLabels ? Math.max(...this.tokens.map((t) => ctx.measureText(tokenLabel(t)).width)) : 0;
    this.left = Math.ceil(widest) + 34;
    this.top = Math.ceil(widest * 0.75) + 30;
  }

  draw(highlight = null) {
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.canvas.getContext("2d");
    this.layout(ctx);
    const size = this.cell * this.T;
    const w = this.left + size + 8;
    const hgt = this.top + size + 8;
    if (this.canvas.width !== Math.round(w * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(hgt * dpr);
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${hgt}px`;
    }
    Object.assign(this.canvas.dataset, { left: this.left, top: this.top, cell: this.cell, tokens: this.T });
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.font = FONT;
    const c = this.cell;
    for (let q = 0; q < this.T; q++) {
      const row = this.probs[q];
      for (let k = 0; k < this.T; k++) {
        const x = this.left + k * c;
        const y = this.top + q * c;
        if (k > q) {
          ctx.fillStyle = "#f1f2f4";
          ctx.fillRect(x, y, c, c);
          continue;
        }
        ctx.fillStyle = viridis(row[k]);
        ctx.fillRect(x, y, c, c);
      }
    }
    ctx.fillStyle = "#333";
    if (this.showLabels) {
      ctx.textBaseline = "middle";
      for (let q = 0; q < this.T; q++) {
        const on = highlight && highlight.q === q;
        ctx.font = on ? `bold ${FONT}` : FONT;
        ctx.textAlign = "right";
        ctx.fillText(tokenLabel(this.tokens[q]), this.left - 6, this.top + q * c + c / 2);
      }
      for (let k = 0; k < this.T; k++) {
        const on = highlight && highlight.k === k;
        ctx.save();
        ctx.font = on ? `bold ${FONT}` : FONT;
        ctx.translate(this.left + k * c + c / 2, this.top - 6);
        ctx.rotate(-Math.PI / 4);
        ctx.textAlign = "left";
        ctx.fillText(tokenLabel(this.tokens[k]), 0, 0);
        ctx.restore();
      }
    }
    ctx.font = FONT;
    ctx.textAlign = "left";
    ctx.fillStyle = "#666";
    ctx.fillText("query ↓  key →", 4, 12);
    if (highlight) {
      ctx.strokeStyle = "#e11d48";
      ctx.lineWidth = 2;
      ctx.strokeRect(this.left + highlight.k * c + 1, this.top + highlight.q * c + 1, c - 2, c - 2);
      ctx.strokeStyle = "rgba(225, 29, 72, 0.35)";
      ctx.lineWidth = 1;
      ctx.strokeRect(this.left, this.top + highlight.q * c, size, c);
      ctx.strokeRect(this.left + highlight.k * c, this.top, c, size);
    }
  }

  cellAt(x, y) {
    const k = Math.floor((x - this.left) / this.cell);
    const q = Math.floor((y - this.top) / this.cell);
    if (q < 0 || k < 0 || q >= this.T || k >= this.T || k > q) return null;
    return { q, k };
  }

  // Reads out (query q, key k); keyboard moves announce through the live region.
  moveTo(q, k, fromKeyboard) {
    q = Math.max(0, Math.min(this.T - 1, q));
    k = Math.max(0, Math.min(q, k));
    this.focus = { q, k };
    this.draw({ q, k });
    const p = this.probs[q][k];
    this.readout.dataset.q = q;
    this.readout.dataset.k = k;
    this.readout.dataset.weight = p;
    this.readout.textContent = `query ${q} “${tokenLabel(this.tokens[q])}” → key ${k} “${tokenLabel(this.tokens[k])}”: ` +
      `weight ${formatNumber(p, 4)}`;
    if (!fromKeyboard) this.canvas.title = this.readout.textContent;
  }

  onKey(ev) {
    const { q, k } = this.focus;
    const moves = {
      ArrowUp: [q - 1, k], ArrowDown: [q + 1, k], ArrowLeft: [q, k - 1], ArrowRight: [q, k + 1],
      Home: [q, 0], End: [q, q], PageUp: [0, 0], PageDown: [this.T - 1, k],
    };
    const to = moves[ev.key];
    if (!to) return;
    ev.preventDefault();
    this.moveTo(to[0], to[1], true);
  }

  table() {
    const head = h("tr", null, h("th", { scope: "col" }, "query \\ key"),
      this.tokens.map((t, k) => h("th", { scope: "col", title: String(t) }, `${k} ${tokenLabel(t)}`)));
    const body = h("tbody", null, this.probs.map((row, q) => h("tr", null,
      h("th", { scope: "row", title: String(this.tokens[q]) }, `${q} ${tokenLabel(this.tokens[q])}`),
      this.tokens.map((_, k) => h("td", { class: "num" }, k <= q ? formatNumber(row[k], 4) : "")))));
    return h("table", { class: "grid-table compact", id: "attn-table" },
      h("caption", null, "Attention weight of each query token (row) on each key token (column)"),
      h("thead", null, head), body);
  }
}
