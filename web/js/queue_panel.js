// The queue panel: whether the queue is paused (with pause/resume buttons), the depth by state
// and each worker's device and current job, from GET /api/v1/queue polled every second.

import { api, apiPath, pollForever } from "./api.js";
import { clear, h } from "./format.js";
import { progressFraction } from "./jobs_table.js";

const POLL_MS = 1000;
const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

export class QueuePanel {
  constructor(root, store, { onSelect, onError }) {
    this.root = root;
    this.store = store;
    this.onSelect = onSelect;
    this.onError = onError;
    this.queue = null;
    this.signature = "";
    this.build();
    store.onChange(() => this.render());
  }

  build() {
    this.statusEl = h("span", { class: "queue-status" });
    this.toggleBtn = h("button", { type: "button", class: "small", id: "queue-toggle" });
    this.toggleBtn.addEventListener("click", () => this.toggle());
    this.depthEl = h("div", { class: "depth" });
    this.workersEl = h("div", { class: "workers" });
    clear(this.root).append(
      h("div", { class: "queue-main" }, h("span", { class: "label" }, "queue"), this.statusEl, this.toggleBtn),
      h("div", { class: "queue-depth" }, h("span", { class: "label" }, "depth"), this.depthEl),
      h("div", { class: "queue-workers" }, h("span", { class: "label" }, "workers"), this.workersEl));
  }

  async toggle() {
    if (!this.queue) return;
    const action = this.queue.paused ? "resume" : "pause";
    this.toggleBtn.disabled = true;
    try {
      await api.post(apiPath(`queue/${action}`));
      await this.pollOnce();
    } catch (e) {
      this.onError(`Could not ${action} the queue: ${e.describe ? e.describe() : e}`, e);
    } finally {
      this.toggleBtn.disabled = false;
    }
  }

  async pollOnce() {
    this.queue = await api.get(apiPath("queue"));
    this.render();
  }

  start() {
    pollForever(() => this.pollOnce(), POLL_MS, 5);
  }

  render() {
    const q = this.queue;
    if (!q) return;
    // Rebuild only when something shown changed, so a link is never replaced under a click.
    const pct = (id) => {
      const job = id ? this.store.get(id) : null;
      return job ? [job.kind, Math.round(progressFraction(job) * 100)] : null;
    };
    const signature = JSON.stringify([q, (q.workers || []).map((w) => pct(w.job_id))]);
    if (signature === this.signature) return;
    this.signature = signature;
    this.root.classList.toggle("paused", !!q.paused);
    this.statusEl.textContent = q.paused ? "paused — running jobs finish, nothing new starts" : "running";
    this.statusEl.className = `queue-status ${q.paused ? "is-paused" : "is-running"}`;
    this.toggleBtn.textContent = q.paused ? "resume" : "pause";
    this.toggleBtn.title = q.paused ? "POST /api/v1/queue/resume" : "POST /api/v1/queue/pause";

    clear(this.depthEl);
    const depth = q.depth || {};
    const names = [...STATES, ...Object.keys(depth).filter((k) => !STATES.includes(k))];
    for (const s of names) {
      if (!(s in depth)) continue;
      this.depthEl.appendChild(h("span", { class: `depth-item state-${s}`, dataset: { state: s } },
        h("span", { class: "dot" }), s, " ", h("b", null, String(depth[s]))));
    }

    clear(this.workersEl);
    const workers = q.workers || [];
    if (!workers.length) this.workersEl.appendChild(h("span", { class: "muted" }, "none"));
    for (const w of workers) {
      const job = w.job_id ? this.store.get(w.job_id) : null;
      let current;
      if (w.job_id) {
        const pct = job ? ` ${Math.round(progressFraction(job) * 100)}%` : "";
        current = h("a", { href: `#job=${w.job_id}`, class: "worker-job", onclick: (ev) => {
          ev.preventDefault();
          this.onSelect(w.job_id);
        } }, `#${w.job_id}${job ? " " + job.kind : ""}${pct}`);
      } else current = h("span", { class: "muted" }, "idle");
      this.workersEl.appendChild(h("span", { class: `worker ${w.job_id ? "busy" : "idle"}`, title: w.description || "" },
        h("b", null, w.device), " ", current));
    }
  }
}
