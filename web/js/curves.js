// Training and evaluation curves of a run (loss, lr, grad_norm, ppl, woken, and any other name
// the run recorded) as small Chart.js line charts, one per name, x = optimizer step. Chart.js is
// Debian's, served by the daemon at /vendor/chart.js (global `Chart`); without it each card
// shows the latest value only. Options: exponential smoothing (0 = raw) and a log y scale
// (used only for a curve whose values are all positive).

import { clear, formatNumber, h } from "./format.js";

const ORDER = ["loss", "lr", "grad_norm", "ppl", "woken"];
const TITLES = {
  loss: "training loss",
  lr: "learning rate",
  grad_norm: "gradient norm",
  ppl: "perplexity",
  woken: "heads woken",
};
const COLORS = { loss: "#2563eb", lr: "#7c3aed", grad_norm: "#d97706", ppl: "#059669", woken: "#dc2626" };

// A surgery's sub-epoch points (eval_every_steps / diagnose_every_steps) join the chart of the
// per-checkpoint curve they refine; both come from the same evaluation where they meet.
const FOLDED = { step_ppl: "ppl", step_woken: "woken" };

function groupByName(points) {
  const groups = new Map();
  for (const p of points) {
    const name = FOLDED[p.name] || p.name;
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push({ x: p.step, y: p.value, epoch: p.epoch });
  }
  for (const list of groups.values()) list.sort((a, b) => a.x - b.x);
  const names = [...groups.keys()].sort((a, b) => {
    const ia = ORDER.indexOf(a) < 0 ? 99 : ORDER.indexOf(a);
    const ib = ORDER.indexOf(b) < 0 ? 99 : ORDER.indexOf(b);
    return ia - ib || a.localeCompare(b);
  });
  return names.map((n) => [n, groups.get(n)]);
}

// Per-step curves are smoothed; the schedule (lr) and the per-checkpoint ones (ppl, woken,
// drift: a handful of points) are drawn as recorded.
const UNSMOOTHED = new Set(["lr", "ppl", "woken", "drift"]);

function smooth(data, alpha, name) {
  if (!(alpha > 0) || UNSMOOTHED.has(name)) return data;
  let s = null;
  return data.map((p) => {
    s = s === null ? p.y : alpha * s + (1 - alpha) * p.y;
    return { ...p, y: s };
  });
}

export class CurvesView {
  constructor({ only = null } = {}) {
    this.el = h("div", { class: "curves" });
    this.cards = new Map(); // name -> {card, chart, latest}
    this.only = only; // names to draw, or null for all
    this.smoothing = 0;
    this.log = false;
    this.points = [];
  }

  setOptions({ smoothing = this.smoothing, log = this.log } = {}) {
    this.smoothing = smoothing;
    this.log = log;
    this.update(this.points);
  }

  update(points) {
    this.points = points || [];
    let groups = groupByName(this.points);
    if (this.only) groups = groups.filter(([n]) => this.only.includes(n));
    if (!groups.length) {
      this.destroy();
      clear(this.el).appendChild(h("div", { class: "muted" }, "No curve points recorded."));
      return;
    }
    if (!this.cards.size) clear(this.el);
    for (const [name, data] of groups) {
      let card = this.cards.get(name);
      if (!card) {
        card = this.makeCard(name, data);
        this.cards.set(name, card);
        this.el.appendChild(card.card);
      }
      if (card.chart) {
        card.chart.data.datasets[0].data = smooth(data, this.smoothing, name);
        card.chart.data.datasets[0].pointRadius = data.length <= 40 ? 2 : 0;
        const logOk = this.log && data.every((p) => p.y > 0);
        card.chart.options.scales.y.type = logOk ? "logarithmic" : "linear";
        card.chart.update("none");
      }
      const last = data[data.length - 1];
      card.latest.textContent = `${formatNumber(last.y)} @ step ${last.x}`;
    }
  }

  makeCard(name, data) {
    const latest = h("span", { class: "muted latest" });
    const canvas = h("canvas");
    const card = h("div", { class: "curve-card", dataset: { curve: name } },
      h("div", { class: "curve-head" }, h("b", null, TITLES[name] || name), latest),
      h("div", { class: "curve-body" }, canvas));
    let chart = null;
    if (typeof window.Chart === "function") {
      const color = COLORS[name] || "#475569";
      chart = new window.Chart(canvas.getContext("2d"), {
        type: "line",
        data: {
          datasets: [{
            label: name, data, borderColor: color, backgroundColor: color,
            borderWidth: 1.5, pointRadius: data.length <= 40 ? 2 : 0, tension: 0,
          }],
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: "nearest", axis: "x", intersect: false },
          scales: {
            x: { type: "linear", title: { display: true, text: "step" }, ticks: { maxTicksLimit: 6, precision: 0 } },
            y: { ticks: { maxTicksLimit: 5, callback: (v) => formatNumber(v, 4) } },
          },
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                title: (items) => items.length ? `step ${items[0].raw.x} · epoch ${formatNumber(items[0].raw.epoch, 3)}` : "",
                label: (item) => `${name} ${formatNumber(item.raw.y, 5)}`,
              },
            },
          },
        },
      });
    } else {
      canvas.replaceWith(h("div", { class: "muted" }, "charts unavailable (/vendor/chart.js did not load)"));
    }
    return { card, chart, latest };
  }

  destroy() {
    for (const c of this.cards.values()) if (c.chart) c.chart.destroy();
    this.cards.clear();
  }
}
