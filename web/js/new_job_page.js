// The new-job view (#/new?kind=<kind>&from=<run>&from_run=<diagnosis>): a form per job kind
// (spec_form.js) that submits POST /api/v1/jobs and then opens the new run's view. from=<run>
// prefills the form with that run's spec (re-run); from_run=<id> starts a surgery on that
// diagnosis's collapsed heads. A refused submit is shown next to the field the API names. The
// queue's state with a pause / resume button sits on top (POST /api/v1/queue/pause|resume).

import { api, apiPath } from "./api.js";
import { clear, h } from "./format.js";
import { go, routeHash } from "./route.js";
import { FormError, SpecForm, modelSuggestions, orderKinds } from "./spec_form.js";

export class NewJobPage {
  constructor(root) {
    this.root = root;
    this.kinds = null;
  }

  hide() {
    this.generation = (this.generation || 0) + 1;
  }

  async show(params) {
    this.hide();
    const gen = this.generation;
    this.status = h("p", { id: "new-status", class: "muted", role: "status", "aria-live": "polite" });
    this.queueLine = h("div", { class: "queue-line", id: "new-queue" });
    this.kindSelect = h("select", { id: "new-kind" });
    this.form = h("form", { id: "new-form", class: "new-form", "aria-labelledby": "new-h", novalidate: true });
    clear(this.root).append(h("h2", { id: "new-h" }, "New job"), this.queueLine,
      h("label", { class: "inline kind-choice" }, "kind ", this.kindSelect), this.status, this.form);
    this.renderQueue().catch(() => {});
    try {
      if (!this.kinds) this.kinds = orderKinds((await api.get(apiPath("kinds"))).kinds || []);
    } catch (e) {
      this.status.textContent = `could not read the job kinds: ${e.describe ? e.describe() : e}`;
      return;
    }
    if (gen !== this.generation) return;
    let spec = null;
    const from = Number(params.get("from")) || null;
    if (from) {
      try {
        spec = (await api.get(apiPath(`runs/${from}`))).spec;
      } catch (e) {
        this.status.textContent = `could not read run #${from}: ${e.describe ? e.describe() : e}`;
      }
      if (gen !== this.generation) return;
    }
    const fromRun = Number(params.get("from_run")) || null;
    const kind = (spec && spec.kind) || params.get("kind") || (fromRun ? "surgery" : "diagnose");
    this.kindSelect.replaceChildren(...this.kinds.map((k) => h("option", { value: k.name, selected: k.name === kind }, k.name)));
    this.kindSelect.onchange = () => go(routeHash("new", null, { kind: this.kindSelect.value }), { replace: true });
    const models = await modelSuggestions();
    if (gen !== this.generation) return;
    this.spec = new SpecForm("new", this.kinds);
    this.spec.setKind(kind);
    if (spec) {
      const copy = { ...spec };
      if (copy.name) copy.name = `${copy.name} (re-run)`.slice(0, 128);
      delete copy.client_id;
      this.spec.fill(copy);
      this.status.textContent = `the spec of run #${from}, to change and submit again`;
    } else if (fromRun && kind === "surgery") {
      this.spec.fill({ targets: { from_run: fromRun, classes: ["bos-sink", "dead"] } });
      try {
        const run = await api.get(apiPath(`runs/${fromRun}`));
        if (run.spec && run.spec.model) this.spec.fill({ model: run.spec.model });
      } catch (e) {
        /* the picker says what it found */
      }
    }
    this.submitBtn = h("button", { type: "submit", class: "primary", id: "new-submit" }, `submit ${kind}`);
    clear(this.form).append(models, this.spec.el, h("div", { class: "editor-buttons" }, this.submitBtn));
    this.form.onsubmit = (ev) => {
      ev.preventDefault();
      this.submit();
    };
  }

  async submit() {
    let spec;
    try {
      spec = this.spec.read();
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      this.refused(e);
      return;
    }
    this.spec.showError(null);
    this.status.classList.remove("error-text");
    this.submitBtn.disabled = true;
    this.status.textContent = "submitting…";
    let job;
    try {
      job = await api.post(apiPath("jobs"), spec);
    } catch (e) {
      this.submitBtn.disabled = false;
      this.refused(e);
      return;
    }
    this.status.textContent = `submitted as job #${job.id}`;
    go(routeHash("run", job.id));
  }

  refused(e) {
    const control = this.spec.showError(e);
    this.status.textContent = `refused: ${e.describe ? e.describe() : e}`;
    this.status.classList.add("error-text");
    if (control) control.focus();
  }

  // The queue line is built once per visit: its state is a live region that must stay in place.
  async renderQueue() {
    if (!this.queueState || !this.queueLine.contains(this.queueState)) {
      this.queueState = h("span", { id: "queue-state", role: "status", "aria-live": "polite" });
      this.queueDepth = h("span", { class: "muted" });
      this.queueBtn = h("button", { type: "button", class: "small", id: "queue-pause-resume" });
      this.queueBtn.addEventListener("click", async () => {
        this.queueBtn.disabled = true;
        try {
          await api.post(apiPath(`queue/${this.paused ? "resume" : "pause"}`));
          await this.renderQueue();
        } catch (e) {
          this.queueState.textContent = `could not change the queue: ${e.describe ? e.describe() : e}`;
        }
        this.queueBtn.disabled = false;
      });
      clear(this.queueLine).append(this.queueState, " ", this.queueDepth, " ", this.queueBtn);
    }
    const q = await api.get(apiPath("queue"));
    this.paused = !!q.paused;
    const depth = q.depth || {};
    this.queueState.textContent = q.paused ? "queue paused: nothing new starts" : "queue running";
    this.queueDepth.textContent = `· ${depth.queued || 0} queued, ${depth.running || 0} running`;
    this.queueBtn.textContent = q.paused ? "resume the queue" : "pause the queue";
  }
}
