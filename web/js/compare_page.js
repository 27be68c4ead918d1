// The compare view (#/compare?a=<side>&b=<side>&drift=<x>): two head tables from
// GET /api/v1/compare — a side is a run or <run>/<checkpoint> (a surgery's "start" too). Shows
// both class maps, the BOS-mass Δ map, the class transition matrix, the woken, newly sick and
// drifting heads (in and out of the surgery's target zone) and the perplexity Δ. A map's cell
// opens that head's view in its side's run.

import { api, apiPath } from "./api.js";
import { clear, formatNumber, h } from "./format.js";
import { CLASS_NAMES, CLASS_STYLE, classMap, numericMap } from "./head_maps.js";
import { go, headHash, routeHash } from "./route.js";

function sideLabel(s) {
  return `run #${s.run}${s.checkpoint ? ` / ${s.checkpoint}` : ""} (${s.kind}, ${s.model || "?"})`;
}

// A long list (a 30 × 32 model can have hundreds of drifters) shows its first LIST_SHOWN heads
// and a "show all" button (aria-expanded) for the rest.
const LIST_SHOWN = 24;

function headList(id, title, list, withDelta = false) {
  const ul = list.length ? h("ul", { id }, list.map((x, i) => h("li", { hidden: i >= LIST_SHOWN }, `L${x.layer} H${x.head}`,
    withDelta ? ` (Δ ${formatNumber(x.bos_mass_delta, 3)})` : ""))) : null;
  let more = null;
  if (list.length > LIST_SHOWN) {
    more = h("button", { type: "button", class: "small link", "aria-expanded": "false", "aria-controls": id },
      `show all ${list.length}`);
    more.addEventListener("click", () => {
      const open = more.getAttribute("aria-expanded") !== "true";
      more.setAttribute("aria-expanded", String(open));
      more.textContent = open ? `show the first ${LIST_SHOWN}` : `show all ${list.length}`;
      ul.querySelectorAll("li").forEach((li, i) => (li.hidden = !open && i >= LIST_SHOWN));
    });
  }
  return h("section", { class: "head-list", "aria-labelledby": `${id}-h` },
    h("h4", { id: `${id}-h` }, title, " ", h("span", { class: "count", id: `${id}-count` }, String(list.length))),
    ul || h("p", { class: "muted", id }, "none"), more);
}

export class ComparePage {
  constructor(root) {
    this.root = root;
    this.build();
  }

  hide() {}

  // The form and the frame are built once, so that a new comparison keeps the focus where it is.
  build() {
    const ia = h("input", { type: "text", id: "cmp-a", placeholder: "7 or 7/start", size: 14, list: "cmp-sides" });
    const ib = h("input", { type: "text", id: "cmp-b", placeholder: "7/final", size: 14, list: "cmp-sides" });
    const idrift = h("input", { type: "number", id: "cmp-drift", placeholder: "0.05", min: 0, max: 1, step: 0.01 });
    this.inputs = { a: ia, b: ib, drift: idrift };
    this.sides = h("datalist", { id: "cmp-sides" });
    const form = h("form", { class: "filters", "aria-label": "Sides to compare" },
      h("label", { class: "field" }, h("span", null, "side A (run or run/checkpoint)"), ia),
      h("label", { class: "field" }, h("span", null, "side B"), ib),
      h("label", { class: "field" }, h("span", null, "drift threshold"), idrift),
      h("button", { type: "submit", class: "primary" }, "compare"),
      h("button", { type: "button", id: "cmp-swap" }, "swap"), this.sides);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      go(routeHash("compare", null, { a: ia.value.trim(), b: ib.value.trim(), drift: idrift.value }));
    });
    form.querySelector("#cmp-swap").addEventListener("click", () =>
      go(routeHash("compare", null, { a: ib.value.trim(), b: ia.value.trim(), drift: idrift.value })));
    this.status = h("p", { id: "cmp-status", role: "status", "aria-live": "polite", class: "muted" });
    this.body = h("div", { class: "compare-body" });
    clear(this.root).append(
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/runs" }, "Runs"), " › compare"),
      h("h2", null, "Compare"), form, this.status, this.body);
  }

  // Suggestions: recent succeeded runs, a surgery by its start and its best checkpoint.
  loadSides() {
    api.get(apiPath("runs", { state: "succeeded", limit: 100 })).then((r) => {
      const options = [];
      for (const run of r.runs || []) {
        const label = `${run.kind}${run.name ? ` — ${run.name}` : ""}`;
        if (run.kind === "surgery") {
          options.push(h("option", { value: `${run.id}/start` }, `${label} (before surgery)`));
          if (run.best_checkpoint) options.push(h("option", { value: `${run.id}/${run.best_checkpoint}` }, `${label} (best)`));
        } else if (run.kind === "diagnose" || (run.kind === "evaluate" && run.healthy !== null)) {
          options.push(h("option", { value: String(run.id) }, label));
        }
      }
      this.sides.replaceChildren(...options);
    }).catch(() => {});
  }

  show(params) {
    const a = params.get("a") || "";
    const b = params.get("b") || "";
    const drift = params.get("drift") || "";
    this.inputs.a.value = a;
    this.inputs.b.value = b;
    this.inputs.drift.value = drift;
    this.loadSides();
    this.status.classList.remove("error-text");
    clear(this.body);
    if (!a || !b) {
      this.status.textContent = "Name two sides: a run, or a surgery's run/checkpoint (start, epoch-N, final).";
      return;
    }
    this.status.textContent = "loading…";
    const key = JSON.stringify([a, b, drift]);
    this.key = key;
    api.get(apiPath("compare", { a, b, drift })).then((r) => {
      if (this.key === key) this.render(r, { a, b, drift });
    }, (e) => {
      if (this.key !== key) return;
      this.status.textContent = `cannot compare: ${e.describe ? e.describe() : e}`;
      this.status.classList.add("error-text");
    });
  }

  render(r, q) {
    this.status.textContent = `${sideLabel(r.a)} against ${sideLabel(r.b)}: ${r.woken.length} woken, ${r.newly_sick.length} newly sick`;
    const rows = r.heads;
    const ppl = r.perplexity || {};
    const pplBox = h("section", { class: "ppl-delta", "aria-labelledby": "ppl-h" },
      h("h3", { id: "ppl-h" }, "Perplexity"),
      h("dl", { class: "facts" },
        h("dt", null, "A"), h("dd", { id: "ppl-a" }, formatNumber(ppl.a, 5)),
        h("dt", null, "B"), h("dd", { id: "ppl-b" }, formatNumber(ppl.b, 5)),
        h("dt", null, "Δ (B − A)"), h("dd", { id: "ppl-delta", class: ppl.delta < 0 ? "good-text" : ppl.delta > 0 ? "bad-text" : "" },
          ppl.delta === null || ppl.delta === undefined ? "—" : `${ppl.delta > 0 ? "+" : ""}${formatNumber(ppl.delta, 4)}`)));

    const head = h("tr", null, h("th", { scope: "col" }, "A \\ B"),
      CLASS_NAMES.map((c) => h("th", { scope: "col" }, `${CLASS_STYLE[c].glyph} ${c}`)));
    const body = h("tbody", null, CLASS_NAMES.map((x) => h("tr", { dataset: { from: x } },
      h("th", { scope: "row" }, `${CLASS_STYLE[x].glyph} ${x}`),
      CLASS_NAMES.map((y) => {
        const n = (r.transitions[x] || {})[y] || 0;
        return h("td", { class: `num${x === y ? " diag" : n ? " moved" : ""}`, dataset: { to: y } }, String(n));
      }))));
    const matrix = h("section", { "aria-labelledby": "trans-h" },
      h("h3", { id: "trans-h" }, "Class transitions"),
      h("table", { class: "grid-table transitions", id: "transitions" },
        h("caption", { class: "muted" }, "heads of class (row) in A and class (column) in B"), h("thead", null, head), body));

    const rowsA = rows.map((x) => ({ layer: x.layer, head: x.head, class: x.class_a }));
    const rowsB = rows.map((x) => ({ layer: x.layer, head: x.head, class: x.class_b }));
    const dr = r.drifters || { in_zone: [], out_of_zone: [], threshold: q.drift };
    clear(this.body).append(
      h("div", { class: "compare-top" }, pplBox, matrix,
        h("section", { class: "lists", "aria-labelledby": "lists-h" }, h("h3", { id: "lists-h" }, "Heads that changed"),
          headList("woken", "woken", r.woken),
          headList("newly-sick", "newly sick", r.newly_sick),
          headList("drift-in", `drifters in the target zone (|Δ BOS| > ${formatNumber(dr.threshold, 3)})`, dr.in_zone, true),
          headList("drift-out", "drifters outside the target zone", dr.out_of_zone, true))),
      h("section", { class: "maps", "aria-label": "Maps" },
        classMap(rowsA, { id: "map-a", title: `A: ${sideLabel(r.a)}`, headHref: (x) => headHash(r.a.run, x.layer, x.head) }),
        classMap(rowsB, { id: "map-b", title: `B: ${sideLabel(r.b)}`, headHref: (x) => headHash(r.b.run, x.layer, x.head) }),
        numericMap(rows, { id: "map-delta", title: "Δ BOS mass (B − A)", metric: "bos_mass_delta", diverging: true,
          headHref: (x) => headHash(r.b.run, x.layer, x.head) })),
      h("p", null, h("a", { href: apiPath("compare", { ...q, format: "csv" }), download: "compare.csv" }, "per-head CSV")));
  }
}
