// The sick-bands view (#/bands?runs=1,2,3): several diagnoses side by side from
// GET /api/v1/sick-bands — per head index its ALiBi slope and, for each run, the layers in which
// that head index is not healthy (a number and a bar), with each run's model, shape and
// slope-vs-sickness Spearman correlation. Reached from the runs table with diagnosis runs ticked.

import { api, apiPath } from "./api.js";
import { clear, formatNumber, h } from "./format.js";
import { go, routeHash } from "./route.js";

export class BandsPage {
  constructor(root) {
    this.root = root;
    this.input = h("input", { type: "text", id: "bands-runs", size: 24, placeholder: "3,5,8",
      "aria-describedby": "bands-runs-help" });
    const form = h("form", { class: "filters", "aria-label": "Runs to show" },
      h("label", { class: "field" }, h("span", null, "diagnosis runs (comma separated)"), this.input),
      h("button", { type: "submit", class: "primary" }, "show"),
      h("span", { class: "muted small-print", id: "bands-runs-help" }, "diagnose runs, or evaluate runs that diagnosed"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      go(routeHash("bands", null, { runs: this.input.value.replace(/\s+/g, "") }));
    });
    this.status = h("p", { id: "bands-status", class: "muted", role: "status", "aria-live": "polite" });
    this.body = h("div", { class: "bands-body" });
    clear(root).append(
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/runs" }, "Runs"), " › sick bands"),
      h("h2", null, "Sick bands"), form, this.status, this.body);
  }

  hide() {}

  show(params) {
    const runs = params.get("runs") || "";
    this.input.value = runs;
    this.status.classList.remove("error-text");
    clear(this.body);
    if (!runs) {
      this.status.textContent = "Name one or more diagnosis runs, or tick them in the runs table.";
      return;
    }
    this.status.textContent = "loading…";
    this.key = runs;
    api.get(apiPath("sick-bands", { runs })).then((r) => {
      if (this.key === runs) this.render(r.runs || []);
    }, (e) => {
      if (this.key !== runs) return;
      this.status.textContent = `cannot show sick bands: ${e.describe ? e.describe() : e}`;
      this.status.classList.add("error-text");
    });
  }

  render(runs) {
    this.status.textContent = `${runs.length} run${runs.length === 1 ? "" : "s"} side by side`;
    const nHeads = Math.max(0, ...runs.map((r) => r.heads));
    const slopeOf = (r, i) => (r.head_bands.find((b) => b.head === i) || {}).slope;
    // One slope column when every run has the same slopes (the same family and head count).
    const sameSlopes = runs.every((r) => r.heads === nHeads && r.head_bands.every((b) => b.slope === slopeOf(runs[0], b.head)));
    const head = h("tr", null, h("th", { scope: "col" }, "head"),
      sameSlopes ? h("th", { scope: "col", class: "num" }, "slope") : null,
      runs.map((r) => h("th", { scope: "col", dataset: { run: r.run } },
        h("a", { href: routeHash("run", r.run) }, `run #${r.run}`), h("br"),
        h("span", { class: "muted" }, `${r.model || "?"} · ${r.layers}×${r.heads}`), h("br"),
        h("span", { class: "muted" }, "ρ "), h("b", { class: "spearman" }, formatNumber(r.slope_sickness_spearman, 3)))));
    const body = h("tbody");
    for (let i = 0; i < nHeads; i++) {
      const tr = h("tr", { dataset: { head: i } }, h("th", { scope: "row" }, String(i)),
        sameSlopes ? h("td", { class: "num" }, formatNumber(slopeOf(runs[0], i), 4)) : null);
      for (const r of runs) {
        const b = r.head_bands.find((x) => x.head === i);
        if (!b) {
          tr.appendChild(h("td", { class: "muted" }, "—"));
          continue;
        }
        tr.appendChild(h("td", { class: "band-cell", dataset: { run: r.run, sick: b.sick_layers } },
          h("span", { class: "band-num" }, `${b.sick_layers} / ${r.layers}`),
          sameSlopes ? null : h("span", { class: "muted" }, ` (slope ${formatNumber(b.slope, 4)})`),
          h("span", { class: "band-bar", "aria-hidden": "true" },
            h("span", { class: "band-fill", style: { width: `${(100 * b.sick_layers) / Math.max(1, r.layers)}%` } }))));
      }
      body.appendChild(tr);
    }
    clear(this.body).append(
      h("p", { class: "muted" }, "Per head index: the layers in which it is not healthy. ρ is Spearman's rank ",
        "correlation of the ALiBi slope against the sick layers over the head indices."),
      h("div", { class: "table-wrap" }, h("table", { class: "grid-table bands", id: "bands-table" },
        h("caption", { class: "sr-only" }, "Sick layers per head index for each run"), h("thead", null, head), body)));
  }
}
