// The run view of a job (diagnose / evaluate / surgery, or any job that recorded curves):
// per-head statistics as a heatmap with class counts (one checkpoint at a time), its curves,
// and its checkpoints table, from GET /api/v1/runs/{id}/heads, /curves and /checkpoints.
// Refreshes while the job runs; tells its owner once there is anything to show.

import { api, apiPath } from "./api.js";
import { STOP, startPolling } from "./poll.js";
import { CurvesView } from "./curves.js";
import { clear, formatNumber, h } from "./format.js";
import { renderClassCounts, renderHeatmap } from "./heatmap.js";

const REFRESH_MS = 5000;

function checkpointLabel(name) {
  if (name === "") return "diagnosis";
  if (name === "start") return "start (before surgery)";
  return name;
}

export class RunView {
  constructor(job, onHasData) {
    this.jobId = job.id;
    this.state = job.state;
    this.onHasData = onHasData;
    this.hasData = false;
    this.stopped = false;
    this.stopPoll = null;
    this.heads = [];
    this.checkpoints = [];
    this.selectedCheckpoint = null;
    this.curves = new CurvesView();

    this.checkpointSelect = h("select", { "aria-label": "Checkpoint" });
    this.checkpointSelect.addEventListener("change", () => {
      this.selectedCheckpoint = this.checkpointSelect.value;
      this.renderHeads();
    });
    this.headsBody = h("div", { class: "heads-body" });
    this.headsSection = h("section", { class: "run-part heads", hidden: true },
      h("div", { class: "part-head" }, h("h3", null, "Attention heads"), this.checkpointSelect),
      this.headsBody);
    this.curvesSection = h("section", { class: "run-part", hidden: true },
      h("div", { class: "part-head" }, h("h3", null, "Curves")), this.curves.el);
    this.checkpointsBody = h("div");
    this.checkpointsSection = h("section", { class: "run-part", hidden: true },
      h("div", { class: "part-head" }, h("h3", null, "Checkpoints")), this.checkpointsBody);
    this.message = h("div", { class: "muted" });
    this.el = h("div", { class: "run-view", id: "run-view" },
      this.message, this.headsSection, this.curvesSection, this.checkpointsSection);
  }

  setJob(job) {
    const before = this.state;
    this.state = job.state;
    if (before === job.state || this.stopped) return;
    if (job.state === "running") this.start();
    else if (before === "running") this.refresh().catch(() => {}); // the final rows, once
  }

  noteData(any) {
    if (any && !this.hasData) {
      this.hasData = true;
      this.onHasData();
    }
  }

  async refresh() {
    const base = `runs/${this.jobId}`;
    const [heads, curves, checkpoints] = await Promise.allSettled([
      api.get(apiPath(`${base}/heads`)),
      api.get(apiPath(`${base}/curves`)),
      api.get(apiPath(`${base}/checkpoints`)),
    ]);
    if (this.stopped) return;
    this.message.textContent = "";
    // Checkpoints first: the heads' checkpoint selector orders itself by them.
    if (checkpoints.status === "fulfilled") {
      const v = checkpoints.value;
      this.checkpoints = Array.isArray(v) ? v : v.checkpoints || [];
    }
    if (heads.status === "fulfilled") {
      this.heads = heads.value.heads || [];
      this.renderHeads();
      this.noteData(this.heads.length > 0);
    }
    if (curves.status === "fulfilled") {
      const points = curves.value.points || [];
      this.curvesSection.hidden = points.length === 0;
      if (points.length) this.curves.update(points);
      this.noteData(points.length > 0);
    }
    if (checkpoints.status === "fulfilled") {
      this.renderCheckpoints();
      this.noteData(this.checkpoints.length > 0);
    }
  }

  checkpointNames() {
    const names = [];
    const seen = new Set();
    const add = (n) => {
      if (!seen.has(n)) {
        seen.add(n);
        names.push(n);
      }
    };
    // Rows of no checkpoint ("" of a diagnosis, "start" of a surgery) first, then the
    // checkpoints in training order, so the last is the newest.
    const inHeads = new Set(this.heads.map((r) => r.checkpoint || ""));
    const saved = new Set(this.checkpoints.map((c) => c.name));
    for (const n of [...inHeads].filter((n) => !saved.has(n)).sort()) add(n);
    const ordered = [...this.checkpoints].sort((a, b) => (a.step || 0) - (b.step || 0));
    for (const c of ordered) if (inHeads.has(c.name)) add(c.name);
    return names;
  }

  renderHeads() {
    this.headsSection.hidden = this.heads.length === 0;
    if (!this.heads.length) return;
    const names = this.checkpointNames();
    if (this.selectedCheckpoint === null || !names.includes(this.selectedCheckpoint))
      this.selectedCheckpoint = names[names.length - 1];
    clear(this.checkpointSelect);
    for (const n of names) this.checkpointSelect.appendChild(h("option", { value: n }, checkpointLabel(n)));
    this.checkpointSelect.value = this.selectedCheckpoint;
    this.checkpointSelect.hidden = names.length < 2;
    const rowsOf = (name) => this.heads.filter((r) => (r.checkpoint || "") === name);
    const rows = rowsOf(this.selectedCheckpoint);
    clear(this.headsBody).append(renderClassCounts(rows));
    // Against the first snapshot (before surgery), how many collapsed heads are left.
    const baseline = names[0];
    if (names.length > 1 && baseline !== this.selectedCheckpoint) {
      const collapsed = (list) => list.filter((r) => r.class === "bos-sink" || r.class === "dead").length;
      this.headsBody.appendChild(h("div", { class: "baseline-compare muted" },
        `collapsed heads: ${collapsed(rowsOf(baseline))} at ${checkpointLabel(baseline)} → `,
        h("b", null, String(collapsed(rows))), ` at ${checkpointLabel(this.selectedCheckpoint)}`));
    }
    this.headsBody.appendChild(renderHeatmap(rows));
  }

  renderCheckpoints() {
    this.checkpointsSection.hidden = this.checkpoints.length === 0;
    if (!this.checkpoints.length) return;
    const headNames = new Set(this.heads.map((r) => r.checkpoint || ""));
    const tbody = h("tbody");
    for (const c of [...this.checkpoints].sort((a, b) => (a.step || 0) - (b.step || 0))) {
      const tr = h("tr", { class: c.best ? "best" : "" },
        h("td", null, c.name, c.best ? h("span", { class: "badge best-badge" }, "best") : null),
        h("td", { class: "num" }, formatNumber(c.epoch)),
        h("td", { class: "num" }, formatNumber(c.step)),
        h("td", { class: "num" }, c.ppl === null || c.ppl === undefined ? "—" : formatNumber(c.ppl, 5)),
        h("td", { class: "num" }, c.woken === null || c.woken === undefined || c.woken < 0 ? "—" : String(c.woken)),
        h("td", { class: "path", title: c.path || "" }, c.model || c.path || ""));
      if (headNames.has(c.name)) {
        tr.classList.add("clickable");
        tr.title = "show this checkpoint's heads";
        tr.addEventListener("click", () => {
          this.selectedCheckpoint = c.name;
          this.renderHeads();
        });
      }
      tbody.appendChild(tr);
    }
    clear(this.checkpointsBody).appendChild(h("table", { class: "grid-table" },
      h("thead", null, h("tr", null, h("th", null, "name"), h("th", { class: "num" }, "epoch"),
        h("th", { class: "num" }, "step"), h("th", { class: "num" }, "ppl"),
        h("th", { class: "num" }, "woken"), h("th", { title: "name to use as a job's model" }, "model"))),
      tbody));
  }

  // Loads now and, while the job runs, every few seconds. Nothing to load before it starts.
  start() {
    if (this.stopPoll || this.stopped || this.state === "queued") return;
    this.stopPoll = startPolling(async () => {
      if (this.stopped) return STOP;
      try {
        await this.refresh();
      } catch (e) {
        if (!this.stopped) this.message.textContent = `run data unavailable: ${e.describe ? e.describe() : e}`;
        throw e;
      }
      if (this.stopped || this.state !== "running") {
        this.stopPoll = null;
        return STOP;
      }
      return REFRESH_MS;
    }, REFRESH_MS);
  }

  stop() {
    this.stopped = true;
    if (this.stopPoll) this.stopPoll();
    this.curves.destroy();
  }
}
