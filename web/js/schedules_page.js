// The schedules view. #/schedules: every schedule (cron, time zone, job kind, next and last
// tick) with an enabled toggle, and a form that creates one (POST /api/v1/schedules).
// #/schedules/<id>: one schedule's trend across its runs from GET /api/v1/schedules/{id}/runs
// (oldest first): perplexity and heads per class by tick as charts and as a table, the skipped
// ticks with their reasons; enable / disable, edit (PATCH) and delete (DELETE). The job a
// schedule submits is edited with the new-job form (spec_form.js); refusals are shown next to
// the field they name (`job.<field>` inside the job).

import { api, apiPath } from "./api.js";
import { fieldOf, showFieldError } from "./field_errors.js";
import { clear, formatClock, formatNumber, h, parseTime } from "./format.js";
import { LineChart } from "./line_chart.js";
import { startPolling } from "./poll.js";
import { go, routeHash } from "./route.js";
import { FormError, SpecForm, modelSuggestions, orderKinds } from "./spec_form.js";

const POLL_MS = 3000;
const CLASS_SERIES = [["healthy", "healthy", "#009E73"], ["bos_sink", "BOS-sink", "#E69F00"],
  ["dead", "dead", "#1d1d1d"], ["low_entropy", "low-entropy", "#56B4E9"]];

function tickLabel(iso) {
  return formatClock(parseTime(iso));
}

// A run's perplexity headline: evaluate's, or a surgery's best checkpoint's.
function pplOf(run) {
  if (!run) return null;
  if (run.ppl !== null && run.ppl !== undefined) return run.ppl;
  return run.best_ppl === undefined ? null : run.best_ppl;
}

export class SchedulesPage {
  constructor(root) {
    this.root = root;
    this.kinds = null;
    this.charts = [];
    this.stopPoll = null;
  }

  hide() {
    this.generation = (this.generation || 0) + 1;
    if (this.stopPoll) this.stopPoll();
    this.stopPoll = null;
    this.destroyCharts();
  }

  destroyCharts() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
  }

  async show(id) {
    this.hide();
    const gen = this.generation;
    this.id = id;
    this.status = h("p", { id: "sched-status", class: "muted", role: "status", "aria-live": "polite" });
    this.body = h("div");
    this.formBox = h("section", { class: "run-part", "aria-labelledby": "sched-form-h" });
    const crumbs = id === null ? null : h("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
      h("a", { href: "#/schedules" }, "Schedules"), " › ", `schedule #${id}`);
    clear(this.root).append(...[crumbs, h("h2", { id: "sched-title" }, id === null ? "Schedules" : `Schedule #${id}`),
      this.status, this.body, this.formBox].filter(Boolean));
    try {
      if (!this.kinds) this.kinds = orderKinds((await api.get(apiPath("kinds"))).kinds || []);
    } catch (e) {
      this.status.textContent = `could not read the job kinds: ${e.describe ? e.describe() : e}`;
    }
    if (gen !== this.generation) return;
    if (id === null) {
      this.stopPoll = startPolling(() => this.loadList(gen), POLL_MS);
      this.buildForm(null);
    } else {
      let s;
      try {
        s = await api.get(apiPath(`schedules/${id}`));
      } catch (e) {
        this.status.textContent = `schedule #${id}: ${e.describe ? e.describe() : e}`;
        return;
      }
      if (gen !== this.generation) return;
      this.schedule = s;
      this.stopPoll = startPolling(() => this.loadTrend(gen), POLL_MS);
      this.buildForm(s);
    }
  }

  enabledToggle(s, after) {
    const btn = h("button", { type: "button", class: "small toggle", "aria-pressed": String(!!s.enabled),
      id: `sched-enabled-${s.id}`, "aria-label": `schedule ${s.name} enabled` }, s.enabled ? "enabled" : "disabled");
    btn.addEventListener("click", async () => {
      const on = btn.getAttribute("aria-pressed") !== "true";
      btn.disabled = true;
      try {
        const r = await api.patch(apiPath(`schedules/${s.id}`), { enabled: on });
        btn.setAttribute("aria-pressed", String(r.enabled));
        btn.textContent = r.enabled ? "enabled" : "disabled";
        s.enabled = r.enabled;
        // The edit form's checkbox follows, so that saving an edit does not undo the toggle.
        if (this.formEnabled && this.id === s.id) this.formEnabled.checked = r.enabled;
        this.status.textContent = `schedule ${s.name} ${r.enabled ? "enabled" : "disabled"}`;
        if (after) after(r);
      } catch (e) {
        this.status.textContent = `could not change schedule ${s.name}: ${e.describe ? e.describe() : e}`;
      }
      btn.disabled = false;
      btn.focus();
    });
    return btn;
  }

  async loadList(gen) {
    const r = await api.get(apiPath("schedules"));
    if (gen !== this.generation) return;
    const list = r.schedules || [];
    const key = JSON.stringify(list);
    if (key === this.listKey) return;
    this.listKey = key;
    const focused = this.body.contains(document.activeElement) ? document.activeElement.id : "";
    const body = h("tbody", null, list.map((s) => h("tr", { dataset: { scheduleId: s.id } },
      h("th", { scope: "row" }, h("a", { href: `#/schedules/${s.id}`, class: "sched-link" }, s.name)),
      h("td", { class: "mono" }, s.cron), h("td", null, s.timezone || "UTC"),
      h("td", { class: "mono" }, (s.job && s.job.kind) || ""),
      h("td", null, this.enabledToggle(s)),
      h("td", { title: s.next_fire_at || "" }, s.enabled && s.next_fire_at ? tickLabel(s.next_fire_at) : "—"),
      h("td", { title: s.last_fired_at || "" }, s.last_fired_at ? tickLabel(s.last_fired_at) : "never"))));
    clear(this.body).append(list.length
      ? h("table", { class: "grid-table", id: "schedules-table" },
        h("caption", { class: "sr-only" }, "Schedules"),
        h("thead", null, h("tr", null, ["name", "cron", "time zone", "job kind", "enabled", "next tick", "last tick"]
          .map((t) => h("th", { scope: "col" }, t)))), body)
      : h("p", { class: "muted", id: "schedules-table" }, "No schedules yet."));
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
  }

  async loadTrend(gen) {
    const r = await api.get(apiPath(`schedules/${this.id}/runs`));
    if (gen !== this.generation) return;
    const firings = r.firings || [];
    const key = JSON.stringify(firings);
    if (key === this.trendKey) return;
    this.trendKey = key;
    this.renderTrend(firings);
  }

  renderTrend(firings) {
    const s = this.schedule;
    const fired = firings.filter((f) => f.run);
    const skipped = firings.filter((f) => f.skipped);
    this.status.textContent = `${fired.length} run${fired.length === 1 ? "" : "s"}, ${skipped.length} skipped tick${skipped.length === 1 ? "" : "s"}`;
    const focused = this.body.contains(document.activeElement) ? document.activeElement.id : "";
    this.destroyCharts();
    const labels = fired.map((f) => tickLabel(f.scheduled_for));
    const charts = h("div", { class: "curves sched-charts" });
    if (fired.some((f) => pplOf(f.run) !== null)) {
      const c = new LineChart({ id: "sched-ppl-chart", title: "Perplexity by tick", labels,
        series: [{ label: "perplexity", data: fired.map((f) => pplOf(f.run)), color: "#0072B2" }] });
      this.charts.push(c);
      charts.appendChild(c.el);
    }
    if (fired.some((f) => f.run.healthy !== null && f.run.healthy !== undefined)) {
      const c = new LineChart({ id: "sched-class-chart", title: "Heads per class by tick", labels,
        series: CLASS_SERIES.map(([k, label, color]) => ({ label, data: fired.map((f) => f.run[k]), color })) });
      this.charts.push(c);
      charts.appendChild(c.el);
    }
    const num = (v, d) => h("td", { class: "num" }, v === null || v === undefined ? "—" : formatNumber(v, d));
    const rows = firings.map((f) => h("tr", { class: f.skipped ? "skipped" : "", dataset: { tick: f.scheduled_for, run: f.run ? f.run.id : "" } },
      h("th", { scope: "row", title: f.scheduled_for }, tickLabel(f.scheduled_for)),
      h("td", null, f.run ? h("a", { href: routeHash("run", f.run.id) }, `#${f.run.id}`) : "skipped"),
      h("td", null, f.run ? h("span", { class: `badge state-${f.run.state}` }, f.run.state) : "—"),
      num(pplOf(f.run), 5), ...CLASS_SERIES.map(([k]) => num(f.run ? f.run[k] : null)),
      h("td", { class: "reason" }, f.reason || "")));
    const onOff = this.enabledToggle(s);
    const del = h("button", { type: "button", class: "small danger", id: "sched-delete" }, "delete");
    del.addEventListener("click", () => this.remove(del));
    clear(this.body).append(
      h("dl", { class: "facts" },
        h("dt", null, "cron"), h("dd", { class: "mono" }, s.cron), h("dt", null, "time zone"), h("dd", null, s.timezone || "UTC"),
        h("dt", null, "job"), h("dd", { class: "mono" }, `${s.job.kind}${s.job.model ? ` on ${s.job.model}` : ""}`),
        h("dt", null, "runs"), h("dd", null, h("a", { href: routeHash("runs", null, { schedule: s.id }) }, "in the runs table"))),
      h("div", { class: "runs-actions" }, onOff, del),
      h("section", { class: "run-part", "aria-labelledby": "sched-trend-h" }, h("h3", { id: "sched-trend-h" }, "Trend"),
        fired.length ? charts : h("p", { class: "muted" }, "No runs yet."),
        h("div", { class: "table-wrap" }, h("table", { class: "grid-table", id: "sched-ticks" },
          h("caption", { class: "muted" }, "Every tick, oldest first"),
          h("thead", null, h("tr", null, ["tick", "run", "state", "perplexity", "healthy", "BOS-sink", "dead", "low-entropy", "reason"]
            .map((t, i) => h("th", { scope: "col", class: i >= 3 && i <= 7 ? "num" : "" }, t)))),
          h("tbody", null, rows)))),
      h("section", { class: "run-part", "aria-labelledby": "sched-skipped-h" },
        h("h3", { id: "sched-skipped-h" }, "Skipped ticks ", h("span", { class: "count" }, String(skipped.length))),
        skipped.length ? h("ul", { id: "sched-skipped" }, skipped.map((f) => h("li", { dataset: { tick: f.scheduled_for } },
          h("b", null, tickLabel(f.scheduled_for)), `: ${f.reason || "no reason recorded"}`)))
          : h("p", { class: "muted", id: "sched-skipped" }, "none")));
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
  }

  async remove(btn) {
    if (btn.dataset.armed !== "true") {
      btn.dataset.armed = "true";
      btn.textContent = "really delete? (its runs stay)";
      this.status.textContent = "press delete again to remove the schedule";
      return;
    }
    btn.disabled = true;
    try {
      await api.del(apiPath(`schedules/${this.id}`));
    } catch (e) {
      this.status.textContent = `could not delete: ${e.describe ? e.describe() : e}`;
      btn.disabled = false;
      return;
    }
    go("#/schedules");
  }

  // The create form (s null) or the edit form of schedule s.
  async buildForm(s) {
    const gen = this.generation;
    const id = (n) => `sched-${n}`;
    const control = (name, label, input) => {
      input.id = id(name);
      input.setAttribute("aria-describedby", `${id(name)}-help`);
      return h("div", { class: "field", dataset: { field: name } }, h("label", { for: id(name) }, label), input,
        h("span", { class: "muted small-print", id: `${id(name)}-help` }, {
          name: "unique", cron: "five fields, @daily, @every 10m…", timezone: "UTC, +02:00 or Europe/Berlin", enabled: "",
        }[name]),
        h("span", { class: "field-error", id: `${id(name)}-error`, hidden: true }));
    };
    const name = h("input", { type: "text", size: 20, required: true });
    const cron = h("input", { type: "text", size: 16, required: true, placeholder: "@daily" });
    const tz = h("input", { type: "text", size: 14, placeholder: "UTC" });
    const enabled = h("input", { type: "checkbox", checked: s ? s.enabled : true });
    this.formEnabled = s ? enabled : null;
    const kind = h("select", { id: id("kind") }, (this.kinds || []).map((k) => h("option", { value: k.name }, k.name)));
    const spec = new SpecForm("sched-job", this.kinds || []);
    const saveBtn = h("button", { type: "submit", class: "primary", id: "sched-save" }, s ? "save changes" : "create schedule");
    const msg = h("p", { class: "muted", id: "sched-form-status", role: "status", "aria-live": "polite" });
    const form = h("form", { id: "sched-form", class: "new-form", novalidate: true, "aria-labelledby": "sched-form-h" },
      h("div", { class: "spec-fields" }, control("name", "name", name), control("cron", "cron", cron),
        control("timezone", "time zone", tz), control("enabled", "enabled", enabled)),
      h("fieldset", null, h("legend", null, "the job it submits"),
        h("label", { class: "inline kind-choice" }, "kind ", kind), await modelSuggestions(), spec.el),
      h("div", { class: "editor-buttons" }, saveBtn), msg);
    if (gen !== this.generation) return;
    const fields = { name, cron, timezone: tz, enabled };
    const setKind = (k, job) => {
      spec.setKind(k);
      if (job) spec.fill(job);
    };
    if (s) {
      name.value = s.name;
      cron.value = s.cron;
      tz.value = s.timezone || "";
      kind.value = s.job.kind;
      setKind(s.job.kind, s.job);
    } else {
      kind.value = (this.kinds || []).some((k) => k.name === "evaluate") ? "evaluate" : kind.value;
      setKind(kind.value, null);
    }
    kind.addEventListener("change", () => setKind(kind.value, null));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      for (const [n, c] of Object.entries(fields)) showFieldError(c, document.getElementById(`${id(n)}-error`), null);
      let job;
      try {
        job = spec.read();
      } catch (e) {
        if (!(e instanceof FormError)) throw e;
        const c = spec.showError(e);
        msg.textContent = `refused: ${e.describe()}`;
        if (c) c.focus();
        return;
      }
      spec.showError(null);
      const body = { name: name.value.trim(), cron: cron.value.trim(), enabled: enabled.checked, job };
      if (tz.value.trim()) body.timezone = tz.value.trim();
      saveBtn.disabled = true;
      let r;
      try {
        r = s ? await api.patch(apiPath(`schedules/${s.id}`), body) : await api.post(apiPath("schedules"), body);
      } catch (e) {
        saveBtn.disabled = false;
        msg.textContent = `refused: ${e.describe ? e.describe() : e}`;
        const f = fieldOf(e);
        let at = null;
        if (f === "job") at = spec.showError(e, { stripJob: true }) || kind;
        else if (fields[f]) {
          at = fields[f];
          showFieldError(at, document.getElementById(`${id(f)}-error`), e.describe ? e.describe() : String(e));
        }
        if (at) at.focus();
        return;
      }
      saveBtn.disabled = false;
      if (s) {
        this.schedule = r;
        this.trendKey = null;
        msg.textContent = `saved schedule ${r.name}`;
      } else go(`#/schedules/${r.id}`);
    });
    clear(this.formBox).append(h("h3", { id: "sched-form-h" }, s ? "Edit" : "New schedule"), form);
  }
}
