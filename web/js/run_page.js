// The run view (#/run/<id>): the run's facts and metadata; L×H maps of BOS mass, entropy and
// local mass and the class map (with table views); a histogram of BOS mass; the sick band per
// head index with ALiBi slopes (the diagnosis result's head_bands); for a surgery its
// checkpoint table (perplexity, woken, best, improves baseline) and curves (loss, lr,
// perplexity, woken) with smoothing and a log scale. A map's cell opens that head's view. Links
// to re-run it with its spec, to a surgery on a diagnosis's collapsed heads, and a cancel button
// while it is live; an inspect run lists its heads, each opening its attention pattern. Reloads while the run is live.

import { api, apiPath } from "./api.js";
import { CurvesView } from "./curves.js";
import { clear, formatClock, formatDuration, formatNumber, h, parseTime } from "./format.js";
import { classMap, histogram, numericMap } from "./head_maps.js";
import { startPolling } from "./poll.js";
import { headHash, routeHash } from "./route.js";
import { progressBar } from "./jobs_table.js";
import { headline } from "./runs_page.js";

const POLL_MS = 4000;

function diagnosisOf(job) {
  const r = job && job.result;
  if (!r) return null;
  if (job.kind === "diagnose") return r;
  if (job.kind === "evaluate") return r.diagnosis || null;
  return null;
}

export class RunPage {
  constructor(root) {
    this.root = root;
    this.id = null;
    this.stopPoll = null;
    this.curves = null;
    this.checkpoint = null;
  }

  show(id, params) {
    this.hide();
    this.id = id;
    this.checkpoint = params.get("checkpoint");
    this.lastKey = null;
    this.lastPoints = null;
    this.status = h("p", { class: "muted", id: "run-status", role: "status", "aria-live": "polite" }, "loading…");
    this.head = h("div", { class: "run-head" });
    this.maps = h("section", { class: "run-part", "aria-labelledby": "maps-h" });
    this.bands = h("section", { class: "run-part", "aria-labelledby": "bands-h", hidden: true });
    this.ckpts = h("section", { class: "run-part", "aria-labelledby": "ckpts-h", hidden: true });
    this.curveSec = h("section", { class: "run-part", "aria-labelledby": "curves-h", hidden: true });
    this.inspected = h("section", { class: "run-part", "aria-labelledby": "inspected-h", hidden: true });
    clear(this.root).append(
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/runs" }, "Runs"), " › ", `run #${id}`),
      h("h2", { id: "run-title" }, `Run #${id}`), this.status, this.head, this.maps, this.bands, this.ckpts, this.curveSec,
      this.inspected);
    this.stopPoll = startPolling(async () => {
      if (this.job && !["queued", "running"].includes(this.job.state)) return;
      await this.load();
    }, POLL_MS);
  }

  hide() {
    if (this.stopPoll) this.stopPoll();
    this.stopPoll = null;
    if (this.curves) this.curves.destroy();
    this.curves = null;
    this.job = null;
  }

  async load() {
    const id = this.id;
    let job;
    try {
      job = await api.get(apiPath(`runs/${id}`));
    } catch (e) {
      this.status.textContent = `run #${id}: ${e.describe ? e.describe() : e}`;
      throw e;
    }
    const [heads, curves, ckpts] = await Promise.all([
      api.get(apiPath(`runs/${id}/heads`)).catch(() => ({ heads: [] })),
      api.get(apiPath(`runs/${id}/curves`)).catch(() => ({ points: [] })),
      api.get(apiPath(`runs/${id}/checkpoints`)).catch(() => ({ checkpoints: [] })),
    ]);
    if (id !== this.id) return;
    const prevState = this.job && this.job.state;
    this.job = job;
    this.heads = heads.heads || [];
    this.points = curves.points || [];
    this.checkpoints = ckpts.checkpoints || [];
    this.summary = job.summary || null; // the headline numbers, as the runs table has them
    // The facts follow every poll; the maps and tables only when their data changed, so that
    // a running run does not reset a table view or the focus inside them.
    if (prevState !== job.state) this.status.textContent = `${job.kind} run, ${job.state}`;
    this.renderHead();
    const key = JSON.stringify([job.state, this.heads.length, this.checkpoints.length]);
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.renderMaps();
      this.renderBands();
      this.renderInspected();
      this.renderCheckpoints();
    }
    if (this.points.length !== this.lastPoints) {
      this.lastPoints = this.points.length;
      this.renderCurves();
    }
  }

  renderHead() {
    const j = this.job;
    document.getElementById("run-title").textContent = `Run #${j.id}${j.name ? ` — ${j.name}` : ""}`;
    const started = parseTime(j.started_at);
    const finished = parseTime(j.finished_at);
    const facts = [
      ["kind", j.kind], ["state", h("span", { class: `badge state-${j.state}` }, j.state)],
      ["model", (j.spec && j.spec.model) || "—"],
      ["tags", (j.tags || []).length ? (j.tags || []).map((t) => h("span", { class: "tag" }, t)) : "—"],
      ["created", formatClock(parseTime(j.created_at))],
      ["duration", started !== null && finished !== null ? formatDuration(finished - started) : "—"],
      ["headline", this.summary ? headline(this.summary) : "—"],
    ];
    if (j.state === "running" || j.state === "queued") {
      const p = j.progress || {};
      facts.splice(2, 0, ["progress", h("span", { class: "run-progress" }, progressBar(j),
        ` ${p.total > 0 ? `${p.step} / ${p.total}` : ""} ${p.message || ""}`)]);
    }
    const dl = h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
    const links = h("p", { class: "run-links" },
      h("a", { href: `#job=${j.id}`, class: "job-link" }, "job, log and spec"), " · ",
      h("a", { href: `api/v1/runs/${j.id}/heads?format=csv`, download: `run-${j.id}-heads.csv` }, "heads CSV"), " · ",
      h("a", { href: `api/v1/runs/${j.id}/curves?format=csv`, download: `run-${j.id}-curves.csv` }, "curves CSV"));
    const r = j.result || {};
    if (j.spec && j.spec.kind) links.append(" · ", h("a", { id: "run-rerun", href: routeHash("new", null, { from: j.id }) }, "re-run with this spec"));
    if (j.state === "succeeded" && diagnosisOf(j)) {
      links.append(" · ", h("a", { id: "run-surgery", href: routeHash("new", null, { kind: "surgery", from_run: j.id }) },
        "surgery on its collapsed heads"));
    }
    if (j.state === "queued" || j.state === "running") {
      const cancel = h("button", { type: "button", id: "run-cancel", class: "small danger", disabled: !!j.cancel_requested },
        j.cancel_requested ? "cancel requested" : "cancel job");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          await api.post(apiPath(`jobs/${j.id}/cancel`));
          this.status.textContent = `cancel of run #${j.id} requested`;
        } catch (e) {
          this.status.textContent = `could not cancel run #${j.id}: ${e.describe ? e.describe() : e}`;
          cancel.disabled = false;
        }
        await this.load().catch(() => {});
      });
      links.append(" · ", cancel);
    }
    if (j.kind === "surgery" && r.best_checkpoint) {
      links.append(" · ", h("a", { id: "baseline-vs-best", class: "button-link",
        href: routeHash("compare", null, { a: `${j.id}/start`, b: `${j.id}/${r.best_checkpoint}` }) },
      "compare baseline vs best"));
    }
    // Rebuilt on every poll of a live run: the focus stays on the control of the same id.
    const focused = this.head.contains(document.activeElement) ? document.activeElement.id : "";
    clear(this.head).append(...[dl, j.notes ? h("p", { class: "notes" }, j.notes) : null, links,
      j.error ? h("p", { class: "error-text" }, j.error) : null].filter(Boolean));
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
  }

  checkpointNames() {
    const names = [];
    for (const r of this.heads) if (!names.includes(r.checkpoint || "")) names.push(r.checkpoint || "");
    const step = new Map(this.checkpoints.map((c) => [c.name, c.step]));
    return names.sort((a, b) => (step.has(a) ? step.get(a) : -1) - (step.has(b) ? step.get(b) : -1));
  }

  renderMaps() {
    this.maps.hidden = this.heads.length === 0;
    if (!this.heads.length) return;
    const names = this.checkpointNames();
    let cp = this.checkpoint;
    if (cp === null || !names.includes(cp)) cp = names[names.length - 1];
    const rows = this.heads.filter((r) => (r.checkpoint || "") === cp);
    const headHref = (r) => headHash(this.id, r.layer, r.head);
    const select = h("select", { id: "run-checkpoint", "aria-label": "Checkpoint of the head statistics" },
      names.map((n) => h("option", { value: n, selected: n === cp }, n || "diagnosis")));
    select.addEventListener("change", () => {
      this.checkpoint = select.value;
      history.replaceState(null, "", routeHash("run", this.id, { checkpoint: select.value }));
      this.renderMaps();
      document.getElementById("run-checkpoint").focus();
    });
    clear(this.maps).append(
      h("div", { class: "part-head" }, h("h3", { id: "maps-h" }, "Attention heads"),
        names.length > 1 ? h("label", null, "checkpoint ", select) : null,
        h("span", { class: "muted" }, "a cell (or a table view's number) opens that head")),
      h("div", { class: "maps" },
        classMap(rows, { id: "map-class", title: "Class", headHref }),
        numericMap(rows, { id: "map-bos", title: "BOS mass", metric: "bos_mass", range: [0, 1], headHref }),
        numericMap(rows, { id: "map-entropy", title: "Entropy (nats)", metric: "entropy", headHref }),
        numericMap(rows, { id: "map-local", title: "Local mass", metric: "local_mass", range: [0, 1], headHref }),
        histogram(rows, { id: "hist-bos", title: "BOS mass histogram", metric: "bos_mass" })));
  }

  renderBands() {
    const d = diagnosisOf(this.job);
    const bands = d && d.head_bands;
    this.bands.hidden = !bands || !bands.length;
    if (this.bands.hidden) return;
    const layers = (d.model && d.model.n_layer) || Math.max(1, ...bands.map((b) => b.sick_layers));
    const body = h("tbody", null, bands.map((b) => h("tr", { dataset: { head: b.head } },
      h("th", { scope: "row" }, String(b.head)),
      h("td", { class: "num" }, formatNumber(b.slope, 4)),
      h("td", { class: "num" }, `${b.sick_layers} / ${layers}`),
      h("td", { class: "band-bar", "aria-hidden": "true" },
        h("span", { class: "band-fill", style: { width: `${(100 * b.sick_layers) / layers}%` } })))));
    clear(this.bands).append(
      h("div", { class: "part-head" }, h("h3", { id: "bands-h" }, "Sick band by head index")),
      h("p", { class: "muted" }, "Layers in which each head index is not healthy, next to its ALiBi slope. ",
        "Spearman (slope vs sick layers): ", h("b", null, formatNumber(d.slope_sickness_spearman, 3))),
      h("table", { class: "grid-table bands", id: "sick-band" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "head"), h("th", { scope: "col", class: "num" }, "slope"),
          h("th", { scope: "col", class: "num" }, "sick layers"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "bar")))),
        body));
  }

  // An inspect run: its text and the heads it inspected, each a link to its pattern in the head view.
  renderInspected() {
    const j = this.job;
    const heads = j.kind === "inspect" && j.result && j.result.heads;
    this.inspected.hidden = !heads || !heads.length;
    if (this.inspected.hidden) return;
    clear(this.inspected).append(
      h("div", { class: "part-head" }, h("h3", { id: "inspected-h" }, "Inspected heads")),
      h("p", null, `${(j.result.tokens || []).length} tokens of `, h("q", null, j.spec.text)),
      h("ul", { class: "inspected-heads", id: "inspected-heads" }, heads.map((x) => h("li", null,
        h("a", { href: headHash(j.id, x.layer, x.head, { inspect: j.id }) }, `L${x.layer} H${x.head}`)))));
  }

  renderCheckpoints() {
    const r = (this.job && this.job.result) || {};
    this.ckpts.hidden = this.checkpoints.length === 0;
    if (this.ckpts.hidden) return;
    const base = r.baseline_ppl;
    const body = h("tbody");
    for (const c of this.checkpoints) {
      const better = base === null || base === undefined || c.ppl === null ? null : c.ppl < base;
      body.appendChild(h("tr", { class: c.best ? "best" : "", dataset: { checkpoint: c.name } },
        h("th", { scope: "row" }, c.name),
        h("td", { class: "num" }, formatNumber(c.epoch)), h("td", { class: "num" }, formatNumber(c.step)),
        h("td", { class: "num ppl" }, c.ppl === null ? "—" : formatNumber(c.ppl, 5)),
        h("td", { class: "num woken" }, c.woken === null || c.woken < 0 ? "—" : String(c.woken)),
        h("td", { class: "best-cell" }, c.best ? "★ best" : ""),
        h("td", { class: "improves" }, better === null ? "—" : better ? "yes" : "no"),
        h("td", null, h("a", { href: routeHash("compare", null, { a: `${this.id}/start`, b: `${this.id}/${c.name}` }),
          "aria-label": `compare start with ${c.name}` }, "vs start"))));
    }
    clear(this.ckpts).append(
      h("div", { class: "part-head" }, h("h3", { id: "ckpts-h" }, "Checkpoints")),
      h("p", { class: "muted" }, "baseline (untouched model) perplexity ", h("b", { id: "baseline-ppl" }, formatNumber(base, 5)),
        r.improves_baseline === true ? " — the best checkpoint beats it" : r.improves_baseline === false ? " — no checkpoint beats it" : ""),
      h("table", { class: "grid-table", id: "checkpoints" },
        h("thead", null, h("tr", null, [["name", ""], ["epoch", "num"], ["step", "num"], ["perplexity", "num"], ["woken", "num"], ["best", ""],
          ["improves baseline", ""], ["", ""]].map(([t, c]) => h("th", { scope: "col", class: c }, t)))), body));
  }

  renderCurves() {
    const names = new Set(this.points.map((p) => p.name));
    this.curveSec.hidden = names.size === 0;
    if (this.curveSec.hidden) return;
    if (!this.curves) {
      this.curves = new CurvesView({ only: ["loss", "lr", "ppl", "woken"] });
      const smoothing = h("input", { type: "range", id: "curve-smoothing", min: 0, max: 0.95, step: 0.05, value: 0,
        "aria-label": "Smoothing of the loss curve" });
      const out = h("output", { for: "curve-smoothing" }, "0");
      smoothing.addEventListener("input", () => {
        out.textContent = smoothing.value;
        this.curves.setOptions({ smoothing: Number(smoothing.value) });
      });
      const log = h("button", { type: "button", id: "curve-log", class: "small toggle", "aria-pressed": "false" }, "log scale");
      log.addEventListener("click", () => {
        const on = log.getAttribute("aria-pressed") !== "true";
        log.setAttribute("aria-pressed", String(on));
        this.curves.setOptions({ log: on });
      });
      clear(this.curveSec).append(
        h("div", { class: "part-head" }, h("h3", { id: "curves-h" }, "Curves"),
          h("label", { class: "inline" }, "smoothing (loss) ", smoothing, " ", out), log),
        this.curves.el);
    }
    this.curves.update(this.points);
  }
}
