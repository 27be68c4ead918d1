// The detail panel of one job: state, progress, timing and attempt facts, its error, the
// run view for diagnose/evaluate/surgery jobs, its log growing live, its result and spec.
// Kept current from the JobsStore; owns the LogView and RunView of the job it shows.

import { api, apiPath, serverNow } from "./api.js";
import { FINAL_STATES } from "./jobs_store.js";
import { elapsedMs, progressBar, stateBadge, updateProgressBar } from "./jobs_table.js";
import { clear, formatClock, formatDuration, formatJson, h, parseTime } from "./format.js";
import { LogView } from "./log_view.js";
import { RunView } from "./run_view.js";

export class JobDetail {
  constructor(root, store, { onCancel, onClose }) {
    this.root = root;
    this.store = store;
    this.onCancel = onCancel;
    this.onClose = onClose;
    this.jobId = null;
    this.log = null;
    this.run = null;
    this.shownUpdatedAt = null;
    store.onChange((changed) => {
      if (this.jobId !== null) this.update(changed.has(this.jobId));
    });
    this.showPlaceholder();
  }

  showPlaceholder() {
    clear(this.root).appendChild(h("div", { class: "placeholder" },
      h("p", null, "Select a job to see its progress, log and result."),
      h("p", { class: "muted" }, "Diagnose, evaluate and surgery runs also show their heads heatmap, curves and checkpoints.")));
  }

  close() {
    this.teardown();
    this.jobId = null;
    this.showPlaceholder();
  }

  teardown() {
    if (this.log) this.log.stop();
    if (this.run) this.run.stop();
    this.log = null;
    this.run = null;
  }

  async show(id) {
    if (this.jobId === id) return;
    this.teardown();
    this.jobId = id;
    let job = this.store.get(id);
    if (!job) {
      clear(this.root).appendChild(h("div", { class: "placeholder muted" }, `Loading job #${id}…`));
      try {
        job = await api.get(apiPath(`jobs/${id}`));
      } catch (e) {
        if (this.jobId === id)
          clear(this.root).appendChild(h("div", { class: "placeholder error-text" },
            `Job #${id}: ${e.describe ? e.describe() : e}`));
        return;
      }
      if (this.jobId !== id) return;
      this.store.put(job);
    }
    this.build(job);
  }

  build(job) {
    this.els = {};
    const e = this.els;
    e.badge = h("span");
    e.cancel = h("button", { type: "button", class: "small danger", id: "detail-cancel" }, "cancel");
    e.cancel.addEventListener("click", async () => {
      e.cancel.disabled = true;
      e.cancel.textContent = "cancelling…";
      try {
        await this.onCancel(job.id);
      } finally {
        e.cancel.disabled = false;
        e.cancel.textContent = "cancel";
      }
    });
    const closeBtn = h("button", { type: "button", class: "small ghost", title: "Close", "aria-label": "Close" }, "✕");
    closeBtn.addEventListener("click", () => this.onClose());

    e.bar = progressBar(job);
    e.progressText = h("span", { class: "progress-text" });
    e.message = h("div", { class: "progress-message" });
    e.meta = h("dl", { class: "meta" });
    e.error = h("div", { class: "error-box", hidden: true });
    e.result = h("pre", { class: "json" });
    e.resultBox = h("details", { class: "part", open: true, hidden: true }, h("summary", null, "Result"), e.result);
    e.spec = h("pre", { class: "json" }, formatJson(job.spec));

    this.log = new LogView(job.id);
    const parts = [
      h("div", { class: "detail-head" },
        h("h2", null, `#${job.id} `, h("span", { class: "kind" }, job.kind)), e.badge,
        h("span", { class: "spacer" }), e.cancel, closeBtn),
      h("div", { class: "detail-progress" }, e.bar,
        h("div", { class: "progress-line" }, e.progressText, e.message)),
      e.meta,
      e.error,
    ];
    // Shown once the run has head statistics, curves or checkpoints to show.
    const runPart = h("details", { class: "part run-part-wrap", open: true, hidden: true },
      h("summary", null, "Run"),
      h("p", null, h("a", { href: `#/run/${job.id}`, class: "open-run-view" }, "open the full run view ›")));
    this.run = new RunView(job, () => (runPart.hidden = false));
    runPart.appendChild(this.run.el);
    parts.push(runPart);
    parts.push(
      h("details", { class: "part", open: true },
        h("summary", null, "Log ", this.log.status), this.log.el),
      e.resultBox,
      h("details", { class: "part" }, h("summary", null, "Spec"), e.spec));
    clear(this.root).appendChild(h("div", { class: "detail", dataset: { jobId: job.id } }, parts));
    this.shownUpdatedAt = null;
    this.update(true);
    this.log.start();
    this.run.start();
  }

  meta(job) {
    const rows = [
      ["state", job.state],
      ["priority", job.priority],
      ["attempt", `${job.attempt ?? "—"} of ${job.max_attempts ?? "—"}`],
      ["created", formatClock(parseTime(job.created_at))],
      ["started", job.started_at ? formatClock(parseTime(job.started_at)) : "—"],
      ["finished", job.finished_at ? formatClock(parseTime(job.finished_at)) : "—"],
      ["elapsed", formatDuration(elapsedMs(job))],
      ["ETA", formatDuration(this.store.eta(job))],
    ];
    if (job.state === "queued") {
      rows[6] = ["waiting", formatDuration(serverNow() - parseTime(job.created_at))];
    }
    if (job.device) rows.push(["device", job.device]);
    if (job.client_id) rows.push(["client id", job.client_id]);
    if (job.schedule_id) rows.push(["schedule", `#${job.schedule_id}`]);
    return rows;
  }

  update(changed) {
    const job = this.store.get(this.jobId);
    if (!job || !this.els) return;
    const e = this.els;
    // Times tick every second; the rest only when the job changed.
    clear(e.meta);
    for (const [k, v] of this.meta(job)) e.meta.append(h("dt", null, k), h("dd", null, String(v)));
    if (!changed && this.shownUpdatedAt === job.updated_at) return;
    this.shownUpdatedAt = job.updated_at;
    clear(e.badge).appendChild(stateBadge(job.state));
    e.cancel.hidden = FINAL_STATES.has(job.state);
    updateProgressBar(e.bar, job);
    const p = job.progress || {};
    e.progressText.textContent = p.total > 0
      ? `${p.step} / ${p.total} (${Math.round((100 * p.step) / p.total)}%)`
      : job.state === "queued" ? "waiting for a worker" : "";
    e.message.textContent = p.message || "";
    if (job.error) {
      e.error.hidden = false;
      e.error.className = `error-box state-${job.state}`;
      clear(e.error).append(h("b", null, job.state === "cancelled" ? "Cancelled: " : "Error: "), job.error);
    } else e.error.hidden = true;
    const hasResult = job.result !== null && job.result !== undefined;
    e.resultBox.hidden = !hasResult;
    if (hasResult) e.result.textContent = formatJson(job.result);
    if (this.run) this.run.setJob(job);
  }
}
