// The jobs table of the index page: state and kind filters, one row per job (id, kind, state
// badge, progress bar with step/total and message, elapsed, ETA, created, cancel button),
// updated in place from the JobsStore. Selecting a row and cancelling are handed to callbacks.

import { FINAL_STATES } from "./jobs_store.js";
import { serverNow } from "./api.js";
import { clear, formatClock, formatDuration, h, parseTime } from "./format.js";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

export function progressFraction(job) {
  const p = job.progress || {};
  if (job.state === "succeeded") return 1;
  if (p.total > 0) return Math.max(0, Math.min(1, p.step / p.total));
  return 0;
}

export function elapsedMs(job) {
  const started = parseTime(job.started_at);
  if (started === null) return null;
  const end = FINAL_STATES.has(job.state) ? parseTime(job.finished_at) : serverNow();
  return end === null ? null : end - started;
}

export function stateBadge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

export function progressBar(job) {
  const bar = h("div", { class: `progress state-${job.state}`, role: "progressbar", "aria-label": `job ${job.id} progress`,
    "aria-valuemin": 0, "aria-valuemax": 100 }, h("div", { class: "fill" }));
  updateProgressBar(bar, job);
  return bar;
}

export function updateProgressBar(bar, job) {
  bar.className = `progress state-${job.state}`;
  const frac = progressFraction(job);
  bar.firstChild.style.width = `${(frac * 100).toFixed(1)}%`;
  const p = job.progress || {};
  // A known fraction is announced; without one the bar is indeterminate (no aria-valuenow).
  if (p.total > 0 || job.state === "succeeded") {
    bar.setAttribute("aria-valuenow", (frac * 100).toFixed(0));
    bar.setAttribute("aria-valuetext", p.total > 0 ? `${p.step} of ${p.total} steps` : "done");
  } else {
    bar.removeAttribute("aria-valuenow");
    bar.removeAttribute("aria-valuetext");
  }
  bar.title = p.total > 0 ? `${p.step} / ${p.total} (${(frac * 100).toFixed(1)}%)` : "";
  // An indeterminate stripe while running without a known total.
  bar.classList.toggle("indeterminate", job.state === "running" && !(p.total > 0));
}

export class JobsTable {
  constructor(root, store, { onSelect, onCancel }) {
    this.root = root;
    this.store = store;
    this.onSelect = onSelect;
    this.onCancel = onCancel;
    this.rows = new Map(); // id -> {tr, cells}
    this.selectedId = null;
    this.stateFilter = "";
    this.kindFilter = "";
    this.knownKinds = new Set();
    this.cancelling = new Set();
    this.build();
    store.onChange((changed) => this.update(changed));
  }

  build() {
    this.stateButtons = new Map();
    const stateBar = h("div", { class: "segmented", role: "group", "aria-label": "Filter by state" });
    for (const s of ["", ...STATES]) {
      const count = h("span", { class: "count" });
      const btn = h("button", { type: "button", class: s === "" ? "active" : "", dataset: { state: s } },
        s === "" ? "all" : s, " ", count);
      btn.addEventListener("click", () => {
        this.stateFilter = s;
        for (const b of this.stateButtons.values()) b.btn.classList.toggle("active", b.btn === btn);
        this.update(new Set());
      });
      this.stateButtons.set(s, { btn, count });
      stateBar.appendChild(btn);
    }
    this.kindSelect = h("select", { id: "kind-filter", "aria-label": "Filter by kind" },
      h("option", { value: "" }, "all kinds"));
    this.kindSelect.addEventListener("change", () => {
      this.kindFilter = this.kindSelect.value;
      this.update(new Set());
    });
    this.summary = h("span", { class: "muted summary" });

    this.tbody = h("tbody");
    this.empty = h("div", { class: "empty" });
    this.olderBtn = h("button", { type: "button", class: "link", hidden: true }, "load older jobs");
    this.olderBtn.addEventListener("click", async () => {
      this.olderBtn.disabled = true;
      try {
        await this.store.loadOlder();
      } finally {
        this.olderBtn.disabled = false;
      }
    });

    clear(this.root).append(
      h("div", { class: "toolbar" }, stateBar, this.kindSelect, this.summary),
      h("div", { class: "table-scroll" },
        h("table", { class: "jobs" },
          h("thead", null, h("tr", null,
            h("th", { class: "num c-id" }, "id"), h("th", { class: "c-kind" }, "kind"),
            h("th", { class: "c-state" }, "state"), h("th", { class: "c-progress" }, "progress"),
            h("th", { class: "c-message" }, "message"), h("th", { class: "num c-elapsed" }, "elapsed"),
            h("th", { class: "num c-eta" }, "ETA"), h("th", { class: "num c-created" }, "created"),
            h("th", { class: "c-actions" }, ""))),
          this.tbody),
        this.empty,
        h("div", { class: "more" }, this.olderBtn)));
  }

  setKinds(names) {
    for (const n of names) this.addKind(n);
  }

  addKind(name) {
    if (!name || this.knownKinds.has(name)) return;
    this.knownKinds.add(name);
    const opts = [...this.knownKinds].sort();
    const current = this.kindSelect.value;
    clear(this.kindSelect).appendChild(h("option", { value: "" }, "all kinds"));
    for (const k of opts) this.kindSelect.appendChild(h("option", { value: k }, k));
    this.kindSelect.value = current;
  }

  select(id) {
    this.selectedId = id;
    for (const [rid, row] of this.rows) row.tr.classList.toggle("selected", rid === id);
  }

  visible(job) {
    return (!this.stateFilter || job.state === this.stateFilter) &&
      (!this.kindFilter || job.kind === this.kindFilter);
  }

  makeRow(job) {
    const cells = {
      id: h("td", { class: "num c-id" }),
      kind: h("td", { class: "c-kind" }),
      state: h("td", { class: "c-state state" }),
      progress: h("td", { class: "c-progress" }),
      message: h("td", { class: "c-message message" }),
      elapsed: h("td", { class: "num c-elapsed" }),
      eta: h("td", { class: "num c-eta" }),
      created: h("td", { class: "num c-created" }),
      actions: h("td", { class: "c-actions" }),
    };
    cells.bar = progressBar(job);
    cells.steps = h("span", { class: "steps" });
    cells.progress.append(cells.bar, cells.steps);
    cells.cancel = h("button", { type: "button", class: "cancel small danger", title: "Cancel this job" }, "cancel");
    cells.cancel.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.cancelling.add(job.id);
      this.fill(this.rows.get(job.id), this.store.get(job.id));
      Promise.resolve(this.onCancel(job.id)).finally(() => {
        this.cancelling.delete(job.id);
        const row = this.rows.get(job.id);
        if (row) this.fill(row, this.store.get(job.id));
      });
    });
    cells.actions.appendChild(cells.cancel);
    const tr = h("tr", { dataset: { jobId: job.id }, tabindex: "0" }, Object.values(cells).filter((c) => c.tagName === "TD"));
    tr.addEventListener("click", () => this.onSelect(job.id));
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.onSelect(job.id);
    });
    return { tr, cells };
  }

  fill(row, job) {
    const { tr, cells } = row;
    tr.dataset.state = job.state;
    tr.classList.toggle("selected", job.id === this.selectedId);
    cells.id.textContent = `#${job.id}`;
    cells.kind.textContent = job.kind;
    if (cells.state.dataset.value !== job.state) {
      clear(cells.state).appendChild(stateBadge(job.state));
      cells.state.dataset.value = job.state;
    }
    updateProgressBar(cells.bar, job);
    const p = job.progress || {};
    cells.steps.textContent = p.total > 0 ? `${p.step}/${p.total}` : p.step > 0 ? String(p.step) : "";
    const msg = job.state === "failed" && job.error ? job.error : p.message || "";
    cells.message.textContent = msg;
    cells.message.title = msg;
    cells.message.classList.toggle("error-text", job.state === "failed");
    const el = elapsedMs(job);
    cells.elapsed.textContent = el === null ? "—" : formatDuration(el);
    if (job.state === "queued") {
      const created = parseTime(job.created_at);
      cells.elapsed.title = created === null ? "" : `waiting ${formatDuration(serverNow() - created)}`;
    } else cells.elapsed.title = "";
    const eta = this.store.eta(job);
    cells.eta.textContent = eta === null ? "—" : formatDuration(eta);
    cells.created.textContent = formatClock(parseTime(job.created_at));
    cells.created.title = job.created_at || "";
    const cancellable = job.state === "queued" || job.state === "running";
    cells.cancel.hidden = !cancellable;
    const busy = this.cancelling.has(job.id);
    cells.cancel.disabled = busy;
    cells.cancel.textContent = busy ? "cancelling…" : "cancel";
  }

  update(changed) {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    const jobs = this.store.list();
    for (const job of jobs) {
      counts[job.state] = (counts[job.state] || 0) + 1;
      this.addKind(job.kind);
    }
    for (const [s, { count }] of this.stateButtons) count.textContent = s === "" ? jobs.length : counts[s] || 0;

    const shown = jobs.filter((j) => this.visible(j));
    // Create or refresh rows; every visible row is refilled so elapsed/ETA tick.
    let prev = null;
    const keep = new Set();
    for (const job of shown) {
      let row = this.rows.get(job.id);
      if (!row) {
        row = this.makeRow(job);
        this.rows.set(job.id, row);
      }
      this.fill(row, job);
      keep.add(job.id);
      const expectedNext = prev ? prev.nextSibling : this.tbody.firstChild;
      if (expectedNext !== row.tr) this.tbody.insertBefore(row.tr, expectedNext);
      prev = row.tr;
    }
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    this.summary.textContent = shown.length === jobs.length ? `${jobs.length} jobs` : `${shown.length} of ${jobs.length} jobs`;
    this.empty.hidden = shown.length > 0 || !this.store.loaded;
    this.empty.textContent = jobs.length === 0
      ? "No jobs yet. Submit one with POST /api/v1/jobs (see the README)."
      : "No job matches the filters.";
    this.olderBtn.hidden = !this.store.hasOlder();
  }
}
