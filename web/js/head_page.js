// The head view (#/run/<id>/head/<layer>/<head>?model=<m>&inspect=<run>): one attention head of
// a run. Its numbers (BOS mass, entropy, local mass, class) at each of the run's checkpoints —
// a surgery's start and evaluated checkpoints, a diagnosis's one set — as a table and a chart,
// from GET /api/v1/runs/{id}/heads; and its token-by-token attention pattern on a text, from an
// inspect run of the chosen model (the run's model, or one of a surgery's checkpoints) that
// covered this head: found through GET /api/v1/runs?kind=inspect&model=… and
// GET /api/v1/runs/{r}/attention?layer=&head=; else an inspect job for this head that is still
// queued or running (GET /api/v1/jobs?kind=inspect&state=…) is followed until it finishes; else
// one is made here (POST /api/v1/jobs) and polled the same way.

import { api, apiPath } from "./api.js";
import { AttentionView } from "./attention_view.js";
import { fieldOf, showFieldError } from "./field_errors.js";
import { clear, formatNumber, h } from "./format.js";
import { CLASS_STYLE } from "./head_maps.js";
import { LineChart } from "./line_chart.js";
import { STOP, startPolling } from "./poll.js";
import { headHash, routeHash } from "./route.js";

export const DEFAULT_TEXT = "The children walked along the river while the old man watched them from the bridge.";
const INSPECT_SCAN = 50; // newest inspect runs of a model looked through for this head
const POLL_MS = 1000;

function checkpointLabel(name) {
  return name === "" ? "diagnosis" : name === "start" ? "start (before surgery)" : name;
}

export class HeadPage {
  constructor(root) {
    this.root = root;
    this.chart = null;
    this.stopPoll = null;
    this.generation = 0;
  }

  hide() {
    this.generation++;
    if (this.stopPoll) this.stopPoll();
    this.stopPoll = null;
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }

  show(run, layer, head, params) {
    this.hide();
    Object.assign(this, { run, layer, head, params });
    const gen = this.generation;
    this.status = h("p", { class: "muted", id: "head-status", role: "status", "aria-live": "polite" }, "loading…");
    this.numbers = h("section", { class: "run-part", "aria-labelledby": "head-numbers-h" });
    this.pattern = h("section", { class: "run-part", "aria-labelledby": "head-pattern-h" });
    this.neighbours = h("nav", { class: "head-nav", "aria-label": "Neighbouring heads" });
    clear(this.root).append(
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/runs" }, "Runs"), " › ",
        h("a", { href: routeHash("run", run) }, `run #${run}`), " › ", `L${layer} H${head}`),
      h("h2", { id: "head-title" }, `Layer ${layer}, head ${head} — run #${run}`),
      this.status, this.neighbours, this.numbers, this.pattern);
    this.load(gen).catch((e) => {
      if (gen === this.generation) this.status.textContent = `run #${run}: ${e.describe ? e.describe() : e}`;
    });
  }

  async load(gen) {
    const [job, heads, ckpts] = await Promise.all([
      api.get(apiPath(`runs/${this.run}`)),
      api.get(apiPath(`runs/${this.run}/heads`)).catch(() => ({ heads: [] })),
      api.get(apiPath(`runs/${this.run}/checkpoints`)).catch(() => ({ checkpoints: [] })),
    ]);
    if (gen !== this.generation) return;
    this.job = job;
    this.checkpoints = ckpts.checkpoints || [];
    const all = heads.heads || [];
    const layers = Math.max(0, ...all.map((r) => r.layer + 1));
    const nheads = Math.max(0, ...all.map((r) => r.head + 1));
    const step = new Map(this.checkpoints.map((c) => [c.name, c.step]));
    const order = (r) => (r.checkpoint === "" || r.checkpoint === "start" ? -1 : step.has(r.checkpoint) ? step.get(r.checkpoint) : 1e15);
    this.rows = all.filter((r) => r.layer === this.layer && r.head === this.head).sort((a, b) => order(a) - order(b));
    document.getElementById("head-title").textContent =
      `Layer ${this.layer}, head ${this.head} — run #${job.id}${job.name ? ` (${job.name})` : ""}`;
    this.status.textContent = all.length && !this.rows.length
      ? `run #${job.id} has no head L${this.layer} H${this.head} (its model has ${layers} layers × ${nheads} heads)`
      : `${job.kind} run, ${job.state}; ${this.rows.length} checkpoint${this.rows.length === 1 ? "" : "s"} of this head`;
    this.renderNeighbours(layers, nheads);
    this.renderNumbers();
    this.renderPattern(gen);
  }

  renderNeighbours(layers, nheads) {
    const link = (l, hd, text, label) => (l >= 0 && hd >= 0 && l < layers && hd < nheads
      ? h("a", { href: headHash(this.run, l, hd), "aria-label": label }, text) : null);
    const items = [
      link(this.layer - 1, this.head, "▲ layer above", `layer ${this.layer - 1}, head ${this.head}`),
      link(this.layer + 1, this.head, "▼ layer below", `layer ${this.layer + 1}, head ${this.head}`),
      link(this.layer, this.head - 1, "◀ previous head", `layer ${this.layer}, head ${this.head - 1}`),
      link(this.layer, this.head + 1, "next head ▶", `layer ${this.layer}, head ${this.head + 1}`),
    ].filter(Boolean);
    clear(this.neighbours).append(...items.flatMap((a, i) => (i ? [" · ", a] : [a])));
  }

  renderNumbers() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
    if (!this.rows.length) {
      clear(this.numbers).append(h("h3", { id: "head-numbers-h" }, "Numbers"),
        h("p", { class: "muted" }, "This run stored no head statistics."));
      return;
    }
    const body = h("tbody", null, this.rows.map((r) => {
      const s = CLASS_STYLE[r.class] || { glyph: "?", color: "#ccc", ink: "#000" };
      return h("tr", { dataset: { checkpoint: r.checkpoint } },
        h("th", { scope: "row" }, checkpointLabel(r.checkpoint)),
        h("td", { class: "num", dataset: { metric: "bos_mass" } }, formatNumber(r.bos_mass, 4)),
        h("td", { class: "num", dataset: { metric: "entropy" } }, formatNumber(r.entropy, 4)),
        h("td", { class: "num", dataset: { metric: "local_mass" } }, formatNumber(r.local_mass, 4)),
        h("td", { class: "head-class", dataset: { class: r.class } },
          h("span", { class: "cls-cell", "aria-hidden": "true", style: { background: s.color, color: s.ink } }, s.glyph), " ", r.class));
    }));
    const table = h("table", { class: "grid-table", id: "head-numbers" },
      h("caption", { class: "sr-only" }, `Layer ${this.layer} head ${this.head} at each checkpoint`),
      h("thead", null, h("tr", null, ["checkpoint", "BOS mass", "entropy (nats)", "local mass", "class"].map((t, i) =>
        h("th", { scope: "col", class: i && i < 4 ? "num" : "" }, t)))), body);
    this.chart = new LineChart({
      id: "head-chart", title: "Across checkpoints",
      labels: this.rows.map((r) => checkpointLabel(r.checkpoint)),
      series: [
        { label: "BOS mass", data: this.rows.map((r) => r.bos_mass), color: "#D55E00" },
        { label: "local mass", data: this.rows.map((r) => r.local_mass), color: "#0072B2" },
        { label: "entropy (nats)", data: this.rows.map((r) => r.entropy), color: "#009E73", axis: "y2" },
      ],
      yTitle: "mass", y2Title: "entropy",
    });
    clear(this.numbers).append(h("h3", { id: "head-numbers-h" }, "Numbers by checkpoint"),
      h("div", { class: "head-numbers" }, table, this.chart.el));
  }

  // The models whose attention can be inspected: the run's, and a surgery's checkpoints.
  models() {
    const out = [];
    const m = this.job.spec && this.job.spec.model;
    if (m) out.push({ value: m, label: `${m} (the run's model)` });
    for (const c of this.checkpoints) if (c.model && !c.missing) out.push({ value: c.model, label: `${c.model} (checkpoint)` });
    return out;
  }

  renderPattern(gen) {
    const models = this.models();
    clear(this.pattern).append(h("h3", { id: "head-pattern-h" }, "Attention pattern"));
    if (!models.length) {
      this.pattern.append(h("p", { class: "muted" }, "This run names no model to inspect."));
      return;
    }
    let model = this.params.get("model");
    if (!models.some((x) => x.value === model)) model = models[0].value;
    this.model = model;
    const select = h("select", { id: "head-model" }, models.map((x) => h("option", { value: x.value, selected: x.value === model }, x.label)));
    select.addEventListener("change", () => {
      history.replaceState(null, "", headHash(this.run, this.layer, this.head, { model: select.value }));
      this.params = new URLSearchParams({ model: select.value });
      this.renderPattern(this.generation);
      document.getElementById("head-model").focus();
    });
    this.patternStatus = h("p", { class: "muted", id: "pattern-status", role: "status", "aria-live": "polite" },
      `looking for an inspect run of ${model} with this head…`);
    this.patternBody = h("div", { class: "pattern-body" });
    this.inspectForm = this.buildInspectForm();
    this.pattern.append(h("label", { class: "inline" }, "model ", select),
      this.patternStatus, this.patternBody, this.inspectForm);
    this.findInspect(model, gen).catch((e) => {
      if (gen === this.generation) this.patternStatus.textContent = `could not look for inspect runs: ${e.describe ? e.describe() : e}`;
    });
  }

  buildInspectForm() {
    const text = h("textarea", { id: "inspect-text", rows: 3, cols: 70, "aria-describedby": "inspect-text-help" });
    text.value = DEFAULT_TEXT;
    const bos = h("input", { type: "checkbox", id: "inspect-bos" });
    this.inspectButton = h("button", { type: "submit", id: "inspect-submit", class: "primary" }, "inspect this head");
    const form = h("form", { class: "inspect-form", id: "inspect-form", "aria-labelledby": "inspect-form-h" },
      h("h4", { id: "inspect-form-h" }, "Inspect on a text"),
      h("label", { class: "field wide" }, h("span", null, "text (at most 512 tokens)"), text),
      h("span", { class: "muted small-print", id: "inspect-text-help" }, "Submits an inspect job for this head on the chosen model."),
      h("span", { class: "field-error", id: "inspect-text-error", hidden: true }),
      h("label", { class: "inline" }, bos, " put the BOS token first"),
      h("div", { class: "editor-buttons" }, this.inspectButton));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submitInspect(text, bos.checked);
    });
    return form;
  }

  async findInspect(model, gen) {
    const wanted = Number(this.params.get("inspect")) || null;
    let ids = [];
    if (wanted) ids = [wanted];
    else {
      const r = await api.get(apiPath("runs", { kind: "inspect", model, state: "succeeded", limit: INSPECT_SCAN }));
      ids = (r.runs || []).map((x) => x.id);
    }
    for (const id of ids) {
      let att;
      try {
        att = await api.get(apiPath(`runs/${id}/attention`, { layer: this.layer, head: this.head }));
      } catch (e) {
        if (e.status === 404) continue;
        throw e;
      }
      if (gen !== this.generation) return;
      await this.showPattern(id, att, gen);
      return;
    }
    if (gen !== this.generation) return;
    const pending = await this.findPendingInspect(model);
    if (gen !== this.generation) return;
    if (pending) {
      this.inspectButton.disabled = true;
      this.followInspect(pending.id, gen);
      return;
    }
    this.patternStatus.textContent = `No inspect run of ${model} covers L${this.layer} H${this.head} yet: inspect it on a text below.`;
    clear(this.patternBody);
  }

  // A queued or running inspect job of this model that names this head, or null: the page
  // follows it instead of offering to submit another.
  async findPendingInspect(model) {
    for (const state of ["running", "queued"]) {
      const r = await api.get(apiPath("jobs", { kind: "inspect", state, limit: INSPECT_SCAN }));
      for (const j of r.jobs || []) {
        const heads = j.spec && Array.isArray(j.spec.heads) ? j.spec.heads : [];
        if (j.spec && j.spec.model === model &&
            heads.some((p) => Array.isArray(p) && p[0] === this.layer && p[1] === this.head)) return j;
      }
    }
    return null;
  }

  async showPattern(id, att, gen) {
    const run = await api.get(apiPath(`runs/${id}`));
    if (gen !== this.generation) return;
    const tokens = (run.result && run.result.tokens) || att.probs.map((_, i) => String(i));
    const view = new AttentionView({ probs: att.probs, tokens, title: `L${this.layer} H${this.head} on ${att.T} tokens` });
    this.patternStatus.textContent = `inspect run #${id} of ${run.spec.model}: ${att.T} tokens`;
    this.patternStatus.dataset.run = id;
    clear(this.patternBody).append(
      h("p", { class: "inspect-source" }, "text of ", h("a", { href: routeHash("run", id) }, `run #${id}`), ": ",
        h("q", { id: "inspect-source-text" }, run.spec.text)),
      view.el);
    this.inspectForm.querySelector("#inspect-form-h").textContent = "Inspect on another text";
  }

  async submitInspect(textEl, prependBos) {
    const errorEl = document.getElementById("inspect-text-error");
    showFieldError(textEl, errorEl, null);
    const spec = { kind: "inspect", model: this.model, text: textEl.value, heads: [[this.layer, this.head]] };
    if (prependBos) spec.prepend_bos = true;
    const gen = this.generation;
    this.inspectButton.disabled = true;
    let job;
    try {
      job = await api.post(apiPath("jobs"), spec);
    } catch (e) {
      this.inspectButton.disabled = false;
      const f = fieldOf(e);
      if (f === "text" || f === "heads" || f === "model" || !f) showFieldError(textEl, errorEl, e.describe ? e.describe() : String(e));
      this.patternStatus.textContent = `inspect refused: ${e.describe ? e.describe() : e}`;
      return;
    }
    this.followInspect(job.id, gen);
  }

  // Polls inspect job jobId until it ends, then draws its pattern (or shows why it failed).
  followInspect(jobId, gen) {
    const textEl = document.getElementById("inspect-text");
    const errorEl = document.getElementById("inspect-text-error");
    this.patternStatus.textContent = `inspect run #${jobId} queued…`;
    this.stopPoll = startPolling(async () => {
      if (gen !== this.generation) return STOP;
      const j = await api.get(apiPath(`jobs/${jobId}`));
      if (gen !== this.generation) return STOP;
      if (j.state === "queued" || j.state === "running") {
        this.patternStatus.textContent = `inspect run #${j.id} ${j.state}…`;
        return POLL_MS;
      }
      this.inspectButton.disabled = false;
      if (j.state !== "succeeded") {
        this.patternStatus.textContent = `inspect run #${j.id} ${j.state}: ${j.error || ""}`;
        showFieldError(textEl, errorEl, j.error || j.state);
        return STOP;
      }
      history.replaceState(null, "", headHash(this.run, this.layer, this.head, { model: this.model, inspect: j.id }));
      const att = await api.get(apiPath(`runs/${j.id}/attention`, { layer: this.layer, head: this.head }));
      if (gen === this.generation) await this.showPattern(j.id, att, gen);
      return STOP;
    }, POLL_MS);
  }
}
