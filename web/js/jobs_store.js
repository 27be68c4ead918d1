// The page's copy of the job list: the first page from GET /api/v1/jobs, then polling with
// since=<the previous response's "now"> and merging whatever changed (newer updated_at wins),
// older pages on demand (before=next_before), and the progress samples the ETA is computed
// from. Views subscribe with onChange(); this module never touches the DOM.

import { api, apiPath, noteServerTime, serverNow } from "./api.js";
import { parseTime } from "./format.js";
import { startPolling } from "./poll.js";

const FIRST_PAGE = 200;
const MAX_PAGE = 500; // the API's largest limit
const POLL_MS = 1000;
const HIDDEN_POLL_MS = 5000;
const MAX_BACKOFF_MS = 8000;
// Each poll asks for a little more than strictly needed, so an update committed in the same
// millisecond as the previous "now" is never missed; merging makes the overlap harmless.
const SINCE_OVERLAP_MS = 1000;
const RATE_WINDOW_MS = 60000;

export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

export class JobsStore {
  constructor() {
    this.jobs = new Map(); // id -> job
    this.samples = new Map(); // id -> [{t, step}] of a running job, oldest first
    this.since = null;
    this.nextBefore = null;
    this.loaded = false;
    this.listeners = new Set();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(changedIds) {
    for (const fn of this.listeners) fn(changedIds);
  }

  get(id) {
    return this.jobs.get(id);
  }

  // Jobs newest first.
  list() {
    return [...this.jobs.values()].sort((a, b) => b.id - a.id);
  }

  hasOlder() {
    return this.nextBefore !== null && this.nextBefore !== undefined;
  }

  merge(jobs) {
    const changed = new Set();
    for (const job of jobs || []) {
      const old = this.jobs.get(job.id);
      if (old && (parseTime(old.updated_at) || 0) > (parseTime(job.updated_at) || 0)) continue;
      this.jobs.set(job.id, job);
      this.noteProgress(job);
      changed.add(job.id);
    }
    return changed;
  }

  // Merges one job (e.g. the answer to a cancel) and tells the views.
  put(job) {
    const changed = this.merge([job]);
    if (changed.size) this.emit(changed);
  }

  noteProgress(job) {
    if (job.state !== "running") {
      this.samples.delete(job.id);
      return;
    }
    const step = job.progress && job.progress.step;
    const t = parseTime(job.updated_at);
    if (typeof step !== "number" || t === null) return;
    let list = this.samples.get(job.id);
    if (!list) this.samples.set(job.id, (list = []));
    const last = list[list.length - 1];
    if (last && last.step === step) return;
    if (last && step < last.step) list.length = 0; // restarted from scratch (requeued attempt)
    list.push({ t, step });
    while (list.length > 2 && t - list[0].t > RATE_WINDOW_MS) list.shift();
  }

  // Milliseconds until a running job finishes, from its recent progress rate (or, before two
  // samples exist, from its average rate since it started); null when it cannot be told.
  eta(job) {
    if (job.state !== "running" || !job.progress) return null;
    const { step, total } = job.progress;
    if (!(total > 0) || !(step > 0) || step >= total) return null;
    const list = this.samples.get(job.id) || [];
    let rate = null; // steps per ms
    if (list.length >= 2) {
      const a = list[0];
      const b = list[list.length - 1];
      if (b.t > a.t && b.step > a.step) rate = (b.step - a.step) / (b.t - a.t);
    }
    if (rate === null) {
      const started = parseTime(job.started_at);
      const elapsed = started === null ? 0 : serverNow() - started;
      if (elapsed > 0) rate = step / elapsed;
    }
    if (!rate) return null;
    return (total - step) / rate;
  }

  async loadFirstPage() {
    const r = await api.get(apiPath("jobs", { limit: FIRST_PAGE }));
    noteServerTime(r.now);
    this.since = r.now;
    this.nextBefore = r.next_before;
    this.loaded = true;
    this.emit(this.merge(r.jobs));
  }

  async loadOlder() {
    if (!this.hasOlder()) return;
    const r = await api.get(apiPath("jobs", { limit: FIRST_PAGE, before: this.nextBefore }));
    this.nextBefore = r.next_before;
    this.emit(this.merge(r.jobs));
  }

  async pollOnce() {
    if (!this.loaded) return this.loadFirstPage();
    const sinceMs = parseTime(this.since);
    const since = sinceMs === null ? this.since : new Date(sinceMs - SINCE_OVERLAP_MS).toISOString();
    const r = await api.get(apiPath("jobs", { since, limit: MAX_PAGE }));
    noteServerTime(r.now);
    this.since = r.now;
    const changed = this.merge(r.jobs);
    // A full page may have left changes out: start over from the first page next time.
    if ((r.jobs || []).length >= MAX_PAGE) this.loaded = false;
    // Also tick the views once a second so elapsed times and ETAs move.
    this.emit(changed);
  }

  start() {
    startPolling(() => this.pollOnce(), POLL_MS,
      { hiddenFactor: HIDDEN_POLL_MS / POLL_MS, maxBackoffMs: MAX_BACKOFF_MS });
  }

  // Polls now instead of waiting for the next tick (after the user did something).
  async refresh() {
    try {
      await this.pollOnce();
    } catch (e) {
      /* the loop reports connection state */
    }
  }
}
