// The schedules list under the jobs table: each schedule's name, cron and time zone, the kind
// of job it submits, when it fires next and fired last, and an enable/disable switch
// (PATCH /api/v1/schedules/{id}). Polls GET /api/v1/schedules every few seconds. A name links to
// the schedules view (#/schedules/<id>), where schedules are created, edited and deleted.

import { api, apiPath, pollForever, serverNow } from "./api.js";
import { clear, formatClock, formatDuration, h, parseTime } from "./format.js";

const POLL_MS = 5000;

function relative(ms) {
  if (ms === null) return "";
  const d = ms - serverNow();
  return d >= 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} ago`;
}

export class SchedulesPanel {
  constructor(root, { onError }) {
    this.root = root;
    this.onError = onError;
    this.schedules = null;
    this.signature = "";
    this.count = h("span", { class: "count muted" });
    this.body = h("div");
    this.details = h("details", { class: "schedules", open: true, hidden: true },
      h("summary", null, "Schedules ", this.count), this.body);
    clear(root).appendChild(this.details);
  }

  async setEnabled(schedule, enabled, button) {
    button.disabled = true;
    try {
      await api.patch(apiPath(`schedules/${schedule.id}`), { enabled });
      await this.pollOnce();
    } catch (e) {
      this.onError(`Could not ${enabled ? "enable" : "disable"} schedule ${schedule.name}: ${e.describe ? e.describe() : e}`, e);
    } finally {
      button.disabled = false;
    }
  }

  async pollOnce() {
    const r = await api.get(apiPath("schedules"));
    this.schedules = (r && r.schedules) || [];
    this.render();
  }

  start() {
    pollForever(() => this.pollOnce(), POLL_MS, 4);
  }

  render() {
    const list = this.schedules || [];
    // Relative times move each poll; rebuild only when the minute-level text would change.
    const signature = JSON.stringify([list, Math.floor(serverNow() / 60000)]);
    if (signature === this.signature) return;
    this.signature = signature;
    this.details.hidden = list.length === 0;
    this.count.textContent = String(list.length);
    const tbody = h("tbody");
    for (const s of list) {
      const next = parseTime(s.next_fire_at);
      const last = parseTime(s.last_fired_at);
      const toggle = h("button", { type: "button", class: "small toggle" }, s.enabled ? "disable" : "enable");
      toggle.addEventListener("click", () => this.setEnabled(s, !s.enabled, toggle));
      const kind = s.job && s.job.kind ? s.job.kind : "";
      tbody.appendChild(h("tr", { dataset: { scheduleId: s.id }, class: s.enabled ? "" : "disabled" },
        h("td", null, h("a", { href: `#/schedules/${s.id}` }, h("b", null, s.name))),
        h("td", { class: "mono" }, s.cron, s.timezone && s.timezone !== "UTC" ? ` (${s.timezone})` : ""),
        h("td", { class: "mono" }, kind),
        h("td", null, h("span", { class: `badge ${s.enabled ? "state-succeeded" : "state-queued"}` }, s.enabled ? "enabled" : "disabled")),
        h("td", { class: "num", title: s.next_fire_at || "" },
          s.enabled && next !== null ? `${formatClock(next)} ` : "—", s.enabled && next !== null ? h("span", { class: "muted" }, relative(next)) : null),
        h("td", { class: "num", title: s.last_fired_at || "" },
          last !== null ? `${formatClock(last)} ` : "never", last !== null ? h("span", { class: "muted" }, relative(last)) : null),
        h("td", { class: "actions" }, toggle)));
    }
    clear(this.body).appendChild(h("table", { class: "grid-table schedules-table" },
      h("thead", null, h("tr", null, h("th", null, "name"), h("th", null, "cron"), h("th", null, "job kind"),
        h("th", null, ""), h("th", { class: "num" }, "next fire"), h("th", { class: "num" }, "last fired"),
        h("th", null, ""))),
      tbody));
  }
}
