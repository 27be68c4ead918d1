// A small Chart.js line chart over named points (checkpoints, schedule ticks): x is a category
// axis of labels, each series a line with its own colour, dash and point shape (told apart
// without colour), on the left axis or, with axis "y2", the right one. Chart.js is Debian's,
// served at /vendor/chart.js; without it the card says so (every chart here sits next to a
// table holding the same numbers).

import { formatNumber, h } from "./format.js";

const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
const SHAPES = ["circle", "rect", "triangle", "rectRot"];

export class LineChart {
  constructor({ id, title, labels, series, yTitle = "", y2Title = "" }) {
    const canvas = h("canvas", { role: "img", "aria-label": `${title}; the table next to it has the numbers` });
    this.el = h("div", { class: "curve-card line-chart", id },
      h("div", { class: "curve-head" }, h("b", null, title)), h("div", { class: "curve-body" }, canvas));
    this.chart = null;
    if (typeof window.Chart !== "function") {
      canvas.replaceWith(h("div", { class: "muted" }, "charts unavailable (/vendor/chart.js did not load)"));
      return;
    }
    const twoAxes = series.some((s) => s.axis === "y2");
    this.chart = new window.Chart(canvas.getContext("2d"), {
      type: "line",
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label, data: s.data, yAxisID: s.axis || "y", borderColor: s.color, backgroundColor: s.color,
          borderWidth: 1.8, borderDash: DASHES[i % DASHES.length], pointStyle: SHAPES[i % SHAPES.length],
          pointRadius: labels.length <= 40 ? 3 : 0, tension: 0, spanGaps: true,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 8, autoSkip: true } },
          y: { title: { display: !!yTitle, text: yTitle }, ticks: { maxTicksLimit: 5, callback: (v) => formatNumber(v, 4) } },
          ...(twoAxes ? { y2: { position: "right", title: { display: !!y2Title, text: y2Title }, grid: { drawOnChartArea: false },
            ticks: { maxTicksLimit: 5, precision: 0 } } } : {}),
        },
        plugins: {
          legend: { display: series.length > 1, labels: { usePointStyle: true, boxWidth: 10, boxHeight: 7 } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label} ${formatNumber(item.raw, 5)}` } },
        },
      },
    });
  }

  destroy() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }
}
