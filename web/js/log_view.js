// A job's log growing live: polls GET /api/v1/jobs/{id}/log?offset=N, appends each new chunk,
// follows the tail while the reader is at the bottom, and stops once the daemon says the log
// is finished and nothing is left to read.

import { api, apiPath } from "./api.js";
import { h } from "./format.js";
import { STOP, startPolling } from "./poll.js";

const POLL_MS = 1000;
const MAX_CHARS = 2 * 1024 * 1024; // keep the page responsive on huge logs
const STICK_PX = 24;

export class LogView {
  constructor(jobId) {
    this.jobId = jobId;
    this.offset = 0;
    this.finished = false;
    this.stopped = false;
    this.chars = 0;
    this.pre = h("pre", { class: "log", id: "job-log", tabindex: "0" });
    this.status = h("span", { class: "muted log-status" }, "loading…");
    this.el = h("div", { class: "log-wrap" }, this.pre);
  }

  atBottom() {
    return this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight < STICK_PX;
  }

  append(text) {
    if (!text) return;
    const follow = this.atBottom();
    this.pre.appendChild(document.createTextNode(text));
    this.chars += text.length;
    if (this.chars > MAX_CHARS) {
      const all = this.pre.textContent;
      const kept = all.slice(all.length - MAX_CHARS / 2);
      this.pre.textContent = "… earlier output not shown …\n" + kept.slice(kept.indexOf("\n") + 1);
      this.chars = this.pre.textContent.length;
    }
    if (follow) this.pre.scrollTop = this.pre.scrollHeight;
  }

  async pollOnce() {
    const r = await api.get(apiPath(`jobs/${this.jobId}/log`, { offset: this.offset }));
    if (this.stopped) return false;
    const text = r.text || "";
    this.append(text);
    if (typeof r.next_offset === "number") this.offset = r.next_offset;
    this.finished = !!r.finished;
    this.status.textContent = `${this.offset.toLocaleString()} bytes${this.finished ? " · finished" : " · live"}`;
    return text.length > 0;
  }

  start() {
    this.stopPoll = startPolling(async () => {
      if (this.stopped) return STOP;
      let more = false;
      try {
        more = await this.pollOnce();
      } catch (e) {
        if (!this.stopped) this.status.textContent = `log unavailable: ${e.describe ? e.describe() : e}`;
        throw e;
      }
      if (this.stopped) return STOP;
      if (this.finished && !more) {
        if (this.offset === 0) this.pre.textContent = "(empty log)";
        return STOP;
      }
      return more ? 50 : POLL_MS;
    }, POLL_MS);
  }

  stop() {
    this.stopped = true;
    if (this.stopPoll) this.stopPoll();
  }
}
