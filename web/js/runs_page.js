// The runs table (#/runs): one row per run with its model, name, tags, kind, state, age,
// duration and headline numbers, from GET /api/v1/runs. Search and filters (kind, state, model,
// tag, time range), order and page live in the URL, so a view is a link (the pages walked through
// are kept as a stack, `back`, so that "newer" goes back one page); name, tags and notes are
// edited in place (PATCH /api/v1/runs/{id}); two ticked runs open the compare view, ticked
// diagnosis runs the sick-bands view; the CSV link downloads the same view.

import { api, apiPath, serverNow } from "./api.js";
import { clear, formatDuration, formatNumber, h, parseTime } from "./format.js";
import { startPolling } from "./poll.js";
import { go, routeHash } from "./route.js";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];
const RANGES = { "": "any time", "1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };
const RANGE_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const PAGE = 25;
const POLL_MS = 4000;

// "2026-12-03T09:30:00" (a datetime-local value, local time) -> ISO UTC, and back.
function toIso(local) {
  if (!local) return "";
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? "" : t.toISOString();
}

function toLocalInput(iso) {
  const t = parseTime(iso);
  if (t === null) return "";
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

export function formatAge(iso) {
  const t = parseTime(iso);
  if (t === null) return "—";
  return `${formatDuration(serverNow() - t)} ago`;
}

// The compare side that stands for a run: a surgery by its best checkpoint (else its start).
export function sideOf(run) {
  if (run.kind === "surgery") return `${run.id}/${run.best_checkpoint || "start"}`;
  return String(run.id);
}

export function headline(run) {
  if (run.kind === "surgery") {
    if (run.baseline_ppl === null && run.best_ppl === null) return h("span", { class: "muted" }, "—");
    const ok = run.improves_baseline;
    return h("span", { class: "headline" },
      `ppl ${formatNumber(run.baseline_ppl, 4)} → ${formatNumber(run.best_ppl, 4)}`,
      run.best_checkpoint ? h("span", { class: "muted" }, ` (${run.best_checkpoint})`) : null,
      run.heads_woken !== null ? ` · woken ${run.heads_woken}` : null,
      ok === true ? h("span", { class: "badge good" }, "beats baseline")
        : ok === false ? h("span", { class: "badge bad" }, "worse than baseline") : null);
  }
  const parts = [];
  if (run.ppl !== null && run.ppl !== undefined) parts.push(`ppl ${formatNumber(run.ppl, 4)}`);
  if (run.healthy !== null && run.healthy !== undefined)
    parts.push(`healthy ${run.healthy} · sink ${run.bos_sink} · dead ${run.dead} · low-ent ${run.low_entropy}`);
  return parts.length ? h("span", { class: "headline" }, parts.join(" · ")) : h("span", { class: "muted" }, "—");
}

export class RunsPage {
  constructor(root, { onError }) {
    this.root = root;
    this.onError = onError;
    this.params = new URLSearchParams();
    this.selected = new Map(); // id -> run
    this.runs = [];
    this.nextBefore = null;
    this.editing = null;
    this.stopPoll = null;
    this.build();
    api.get(apiPath("kinds")).then((r) => {
      for (const k of (r && r.kinds) || []) this.kind.appendChild(h("option", { value: k.name }, k.name));
      this.kind.value = this.params.get("kind") || "";
    }).catch(() => {});
  }

  build() {
    const field = (label, control) => h("label", { class: "field" }, h("span", null, label), control);
    this.q = h("input", { type: "search", id: "runs-q", placeholder: "name, notes or model", "aria-label": "Search runs" });
    this.kind = h("select", { id: "runs-kind" }, h("option", { value: "" }, "any kind"));
    this.state = h("select", { id: "runs-state" }, h("option", { value: "" }, "any state"),
      STATES.map((s) => h("option", { value: s }, s)));
    this.model = h("input", { type: "text", id: "runs-model", placeholder: "demo or bloom-*", size: 12, list: "runs-models" });
    this.models = h("datalist", { id: "runs-models" });
    this.tag = h("input", { type: "text", id: "runs-tag", placeholder: "tag1 tag2", size: 12 });
    this.range = h("select", { id: "runs-range" }, Object.entries(RANGES).map(([v, t]) => h("option", { value: v }, t)));
    // An explicit window: local date-times in the inputs, UTC (since/until) in the URL.
    this.since = h("input", { type: "datetime-local", id: "runs-since", step: 1 });
    this.until = h("input", { type: "datetime-local", id: "runs-until", step: 1 });
    let typing = null;
    for (const input of [this.q, this.model, this.tag]) {
      input.addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(() => this.setParams({}, true), 300);
      });
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") {
          clearTimeout(typing);
          this.setParams({}, true);
        }
      });
    }
    for (const sel of [this.kind, this.state, this.range, this.since, this.until])
      sel.addEventListener("change", () => this.setParams({}));

    this.compareBtn = h("button", { type: "button", id: "runs-compare", class: "primary", disabled: true }, "compare selected");
    this.compareBtn.addEventListener("click", () => {
      const [a, b] = [...this.selected.values()];
      go(routeHash("compare", null, { a: sideOf(a), b: sideOf(b) }));
    });
    this.bandsBtn = h("button", { type: "button", id: "runs-bands", disabled: true }, "sick bands of selected");
    this.bandsBtn.addEventListener("click", () =>
      go(routeHash("bands", null, { runs: [...this.selected.keys()].sort((a, b) => a - b).join(",") })));
    this.csv = h("a", { id: "runs-csv", class: "button-link", download: "runs.csv" }, "CSV of this view");
    this.clearBtn = h("button", { type: "button", class: "small ghost" }, "clear filters");
    this.clearBtn.addEventListener("click", () => go(routeHash("runs", null, {})));
    this.status = h("p", { id: "runs-status", class: "muted", role: "status", "aria-live": "polite" });

    this.thead = h("thead");
    this.tbody = h("tbody");
    this.table = h("table", { class: "grid-table runs-table", id: "runs-table" },
      h("caption", { class: "sr-only" }, "Runs, newest first unless sorted otherwise"), this.thead, this.tbody);
    this.newest = h("button", { type: "button", id: "runs-first" }, "« newest");
    this.newest.addEventListener("click", () => this.setParams({ before: "", back: "" }));
    this.newer = h("button", { type: "button", id: "runs-newer" }, "‹ newer");
    this.newer.addEventListener("click", () => {
      const stack = this.backStack();
      const prev = stack.pop();
      this.setParams({ before: prev === undefined || prev === "-" ? "" : prev, back: stack.join(",") });
    });
    this.older = h("button", { type: "button", id: "runs-older" }, "older »");
    this.older.addEventListener("click", () => this.setParams({ before: String(this.nextBefore),
      back: [...this.backStack(), this.params.get("before") || "-"].join(",") }));

    clear(this.root).append(
      h("h2", null, "Runs"),
      h("form", { class: "filters", role: "search", "aria-label": "Filter runs", onsubmit: (ev) => ev.preventDefault() },
        field("search", this.q), field("kind", this.kind), field("state", this.state),
        field("model", this.model), this.models, field("tags", this.tag), field("created", this.range),
        field("from", this.since), field("to", this.until), this.clearBtn),
      h("div", { class: "runs-actions" }, this.compareBtn, this.bandsBtn, this.csv, h("span", { class: "spacer" }), this.status),
      h("div", { class: "table-wrap" }, this.table),
      h("nav", { class: "pager", "aria-label": "Pages of runs" }, this.newest, this.newer, this.older));
  }

  // Reads the controls into the URL (plus the given overrides); a filter change goes to page 1.
  setParams(over, replace = false) {
    const p = {
      q: this.q.value.trim(), kind: this.kind.value, state: this.state.value,
      model: this.model.value.trim(), tag: this.tag.value.trim().split(/[\s,]+/).filter(Boolean),
      range: this.range.value, since: toIso(this.since.value), until: toIso(this.until.value),
      schedule: this.params.get("schedule") || "", order: this.params.get("order") || "",
      limit: this.params.get("limit") || "", before: "", back: "",
    };
    go(routeHash("runs", null, { ...p, ...over }), { replace });
  }

  // The `before` of each page before this one, oldest visit first ("-" for the first page).
  backStack() {
    return (this.params.get("back") || "").split(",").filter(Boolean);
  }

  apiParams() {
    const p = this.params;
    const q = new URLSearchParams();
    for (const k of ["q", "kind", "state", "model", "order", "before", "since", "until", "schedule"])
      if (p.get(k)) q.set(k, p.get(k));
    for (const t of p.getAll("tag")) q.append("tag", t);
    const r = p.get("range");
    if (r && RANGE_MS[r]) q.set("since", String(Math.floor(serverNow() - RANGE_MS[r])));
    q.set("limit", p.get("limit") || String(PAGE));
    return q;
  }

  show(params) {
    this.params = params;
    this.generation = (this.generation || 0) + 1; // answers to an earlier view are dropped
    const setIf = (el, v) => {
      if (document.activeElement !== el && el.value !== v) el.value = v;
    };
    setIf(this.q, params.get("q") || "");
    setIf(this.kind, params.get("kind") || "");
    setIf(this.state, params.get("state") || "");
    setIf(this.model, params.get("model") || "");
    setIf(this.tag, params.getAll("tag").join(" "));
    setIf(this.range, params.get("range") || "");
    setIf(this.since, toLocalInput(params.get("since")));
    setIf(this.until, toLocalInput(params.get("until")));
    const csv = this.apiParams();
    csv.set("format", "csv");
    this.csv.href = `api/v1/runs?${csv}`;
    this.renderHead();
    if (this.stopPoll) this.stopPoll();
    let first = true;
    this.stopPoll = startPolling(async () => {
      // After the first load, only while something on the page may still change.
      if (!first && !this.runs.some((r) => r.state === "queued" || r.state === "running")) return;
      first = false;
      await this.load();
    }, POLL_MS);
  }

  hide() {
    if (this.stopPoll) this.stopPoll();
    this.stopPoll = null;
  }

  async load() {
    const q = this.apiParams();
    const generation = this.generation;
    let r;
    try {
      r = await api.get(`api/v1/runs?${q}`);
      if (generation !== this.generation) return;
    } catch (e) {
      this.status.textContent = `could not list runs: ${e.describe ? e.describe() : e}`;
      throw e;
    }
    const key = JSON.stringify([q.toString(), r]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    const before = new Map(this.runs.map((x) => [x.id, x.state]));
    const sameView = this.shownGeneration === generation;
    this.shownGeneration = generation;
    this.runs = r.runs || [];
    // Runs that changed state while this view was open are announced (the status is aria-live).
    const changed = sameView ? this.runs.filter((x) => before.has(x.id) && before.get(x.id) !== x.state) : [];
    this.nextBefore = r.next_before;
    for (const run of this.runs) if (run.model && !this.models.querySelector(`option[value="${CSS.escape(run.model)}"]`))
      this.models.appendChild(h("option", { value: run.model }));
    if (this.editing === null) this.renderRows();
    const filtered = [...this.params.keys()].some((k) => !["order", "before", "back", "limit"].includes(k));
    this.status.textContent = `${this.runs.length} run${this.runs.length === 1 ? "" : "s"} shown` +
      (filtered ? " (filtered)" : "") + (this.params.get("before") ? `, older than #${this.params.get("before")}` : "") +
      changed.map((x) => `; run #${x.id} ${x.state}`).join("");
    this.older.disabled = this.nextBefore === null || this.nextBefore === undefined;
    this.newest.disabled = !this.params.get("before");
    this.newer.disabled = !this.params.get("before");
  }

  renderHead() {
    const order = this.params.get("order") || "-created";
    const sortBtn = (label, asc, desc, id) => {
      const active = order === asc || order === desc;
      const th = h("th", { scope: "col", "aria-sort": active ? (order === asc ? "ascending" : "descending") : "none" });
      const next = order === desc ? asc : desc;
      th.appendChild(h("button", { type: "button", class: "sort", id, onclick: () => this.setParams({ order: next === "-created" ? "" : next }) },
        label, h("span", { "aria-hidden": "true" }, active ? (order === asc ? " ▲" : " ▼") : " ↕")));
      return th;
    };
    // ppl sorts one way only (lowest first): its header toggles between ppl and the default.
    const pplTh = h("th", { scope: "col", "aria-sort": order === "ppl" ? "ascending" : "none" },
      h("button", { type: "button", class: "sort", id: "sort-ppl", onclick: () => this.setParams({ order: order === "ppl" ? "" : "ppl" }) },
        "headline (ppl)", h("span", { "aria-hidden": "true" }, order === "ppl" ? " ▲" : " ↕")));
    clear(this.thead).appendChild(h("tr", null,
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "select")),
      h("th", { scope: "col" }, "run"), h("th", { scope: "col" }, "name"), h("th", { scope: "col" }, "model"),
      h("th", { scope: "col" }, "tags"), h("th", { scope: "col" }, "kind"), h("th", { scope: "col" }, "state"),
      sortBtn("age", "created", "-created", "sort-created"), h("th", { scope: "col" }, "duration"), pplTh,
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "actions"))));
  }

  renderRows() {
    clear(this.tbody);
    if (!this.runs.length) {
      this.tbody.appendChild(h("tr", null, h("td", { colspan: 11, class: "muted empty" }, "No runs match.")));
      return;
    }
    for (const run of this.runs) this.tbody.appendChild(this.row(run));
    this.updateCompare();
  }

  row(run) {
    const check = h("input", { type: "checkbox", class: "pick", "aria-label": `select run ${run.id} for comparison`,
      checked: this.selected.has(run.id) });
    check.addEventListener("change", () => {
      if (check.checked) this.selected.set(run.id, run);
      else this.selected.delete(run.id);
      this.updateCompare();
    });
    const edit = h("button", { type: "button", class: "small edit", "aria-label": `edit name, tags and notes of run ${run.id}` }, "edit");
    edit.addEventListener("click", () => this.openEditor(run, tr));
    const actions = h("td", { class: "actions" }, edit);
    if (run.kind === "surgery" && run.best_checkpoint)
      actions.appendChild(h("a", { class: "button-link small", href: routeHash("compare", null, { a: `${run.id}/start`, b: `${run.id}/${run.best_checkpoint}` }),
        "aria-label": `compare run ${run.id} baseline with its best checkpoint` }, "baseline vs best"));
    const tr = h("tr", { dataset: { runId: run.id } },
      h("td", null, check),
      h("td", { class: "num" }, h("a", { href: routeHash("run", run.id), class: "run-link" }, `#${run.id}`)),
      h("td", { class: "name" }, run.name || h("span", { class: "muted" }, "—")),
      h("td", { class: "model" }, run.model || "—"),
      h("td", { class: "tags" }, (run.tags || []).map((t) => h("span", { class: "tag" }, t))),
      h("td", { class: "kind" }, run.kind),
      h("td", { class: "state" }, h("span", { class: `badge state-${run.state}` }, run.state)),
      h("td", { class: "age", title: run.created_at || "" }, formatAge(run.created_at)),
      h("td", { class: "num duration" }, run.duration_s === null || run.duration_s === undefined ? "—" : formatDuration(run.duration_s * 1000)),
      h("td", { class: "headline-cell" }, headline(run)),
      actions);
    return tr;
  }

  updateCompare() {
    const n = this.selected.size;
    this.compareBtn.disabled = n !== 2;
    this.compareBtn.textContent = n === 2 ? "compare selected" : `compare selected (${n}/2)`;
    // Sick bands need diagnoses: diagnose runs, or evaluate runs that diagnosed.
    const diagnosed = [...this.selected.values()].every((r) => r.state === "succeeded" &&
      (r.kind === "diagnose" || (r.kind === "evaluate" && r.healthy !== null && r.healthy !== undefined)));
    this.bandsBtn.disabled = n === 0 || !diagnosed;
    this.bandsBtn.title = n && !diagnosed ? "only succeeded diagnose runs, or evaluate runs that diagnosed" : "";
  }

  async openEditor(run, tr) {
    if (this.editing) this.closeEditor();
    let full = {};
    try {
      full = await api.get(apiPath(`runs/${run.id}`));
    } catch (e) {
      this.onError(`Could not read run #${run.id}: ${e.describe ? e.describe() : e}`, e);
      return;
    }
    // The rows may have been drawn again meanwhile: attach the editor to the current one.
    tr = this.tbody.querySelector(`tr[data-run-id="${run.id}"]`);
    if (!tr || this.editing) return;
    const name = h("input", { type: "text", id: "edit-name", value: full.name || "", maxlength: 128 });
    const tags = h("input", { type: "text", id: "edit-tags", value: (full.tags || []).join(" ") });
    const notes = h("textarea", { id: "edit-notes", rows: 3 });
    notes.value = full.notes || "";
    const msg = h("span", { class: "error-text", role: "alert" });
    const save = h("button", { type: "submit", class: "primary small" }, "save");
    const cancel = h("button", { type: "button", class: "small" }, "cancel");
    const form = h("form", { class: "editor", "aria-label": `edit run ${run.id}` },
      h("label", { class: "field" }, h("span", null, "name"), name),
      h("label", { class: "field" }, h("span", null, "tags (space separated)"), tags),
      h("label", { class: "field wide" }, h("span", null, "notes"), notes),
      h("div", { class: "editor-buttons" }, save, cancel, msg));
    cancel.addEventListener("click", () => this.closeEditor(true));
    form.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.closeEditor(true);
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {
        name: name.value.trim() || null,
        tags: tags.value.trim().split(/[\s,]+/).filter(Boolean),
        notes: notes.value === "" ? null : notes.value,
      };
      try {
        await api.patch(apiPath(`runs/${run.id}`), body);
      } catch (e) {
        msg.textContent = e.describe ? e.describe() : String(e);
        return;
      }
      this.closeEditor();
      this.lastKey = null;
      await this.load();
      const again = this.tbody.querySelector(`tr[data-run-id="${run.id}"] button.edit`);
      if (again) again.focus();
      this.status.textContent = `run #${run.id} saved`;
    });
    const editRow = h("tr", { class: "editor-row" }, h("td", { colspan: 11 }, form));
    tr.after(editRow);
    this.editing = { run, editRow, tr };
    name.focus();
  }

  closeEditor(refocus = false) {
    if (!this.editing) return;
    const { editRow, tr } = this.editing;
    editRow.remove();
    this.editing = null;
    if (refocus) tr.querySelector("button.edit").focus();
  }
}
