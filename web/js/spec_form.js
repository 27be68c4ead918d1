// A job spec as a form, built from the kind's field list (GET /api/v1/kinds): a control per
// field by its type (text, number with the field's range, a default/true/false choice, one line
// per item for string lists, JSON for objects), the required fields first and the rest under
// "more options", then the run's name, tags, notes and priority. A surgery's targets get a
// picker: a succeeded diagnosis run, the classes, and optional layer and head ranges (the rule
// form {"from_run", "classes", "layers", "heads"}, with a count of the heads it picks), or
// explicit JSON. fill(spec) prefills from a spec (re-run); read() gives the spec; showError()
// puts an API refusal next to the control its field names.

import { api, apiPath } from "./api.js";
import { fieldOf, showFieldError } from "./field_errors.js";
import { h } from "./format.js";
import { CLASS_NAMES, CLASS_STYLE } from "./head_maps.js";

const COMMON = [
  { name: "name", type: "string", help: "the run's name (unique among runs)" },
  { name: "tags", type: "tags", help: "space separated; letters, digits and . _ : -" },
  { name: "notes", type: "text", help: "free text" },
  { name: "priority", type: "integer", min: -1000000, max: 1000000, help: "higher runs first (default 0)" },
];
const LIST_FIELDS = new Set(["string[]"]);

// A mistake found before sending (a list or JSON that does not parse).
export class FormError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }

  describe() {
    return this.message;
  }
}

// "1-3" or "2" -> [lo, hi]; "" -> null (all).
function range(text) {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!m) return null;
  return [Number(m[1]), Number(m[2] === undefined ? m[1] : m[2])];
}

class TargetsPicker {
  constructor(id) {
    this.id = id;
    this.run = h("select", { id: `${id}-run` }, h("option", { value: "" }, "loading diagnosis runs…"));
    this.classes = CLASS_NAMES.map((c) => h("input", { type: "checkbox", value: c, checked: c === "bos-sink" || c === "dead",
      id: `${id}-class-${c}` }));
    this.layers = h("input", { type: "text", id: `${id}-layers`, size: 6, placeholder: "all" });
    this.heads = h("input", { type: "text", id: `${id}-heads`, size: 6, placeholder: "all" });
    this.json = h("textarea", { id: `${id}-json`, rows: 3, cols: 40, placeholder: '{"1": [6], "3": [4, 7]}' });
    this.mode = h("select", { id: `${id}-mode` }, h("option", { value: "rule" }, "picked from a diagnosis run"),
      h("option", { value: "json" }, "explicit layers and heads (JSON)"));
    this.count = h("span", { class: "muted", id: `${id}-count`, "aria-live": "polite" });
    this.ruleBox = h("fieldset", { class: "targets-rule" }, h("legend", null, "heads of the diagnosis run"),
      h("label", { class: "field" }, h("span", null, "diagnosis run"), this.run),
      h("span", { class: "field" }, h("span", null, "classes"), h("span", { class: "checks" },
        this.classes.map((c) => h("label", { class: "inline" }, c, ` ${CLASS_STYLE[c.value].glyph} ${c.value}`)))),
      h("label", { class: "field" }, h("span", null, "layers (a-b)"), this.layers),
      h("label", { class: "field" }, h("span", null, "heads (a-b)"), this.heads), this.count);
    this.jsonBox = h("label", { class: "field wide", hidden: true }, h("span", null, '{"<layer>": [heads]}'), this.json);
    this.el = h("div", { class: "targets-picker" }, h("label", { class: "field" }, h("span", null, "targets"), this.mode),
      this.ruleBox, this.jsonBox);
    this.mode.addEventListener("change", () => this.setMode(this.mode.value));
    for (const c of [this.run, this.layers, this.heads, ...this.classes]) c.addEventListener("change", () => this.preview());
    this.rows = new Map(); // run id -> head rows
    this.ready = this.loadRuns();
  }

  // The control an error about the targets is shown next to.
  get control() {
    return this.mode.value === "json" ? this.json : this.run;
  }

  setMode(mode) {
    this.mode.value = mode;
    this.ruleBox.hidden = mode !== "rule";
    this.jsonBox.hidden = mode !== "json";
  }

  async loadRuns() {
    const [d, e] = await Promise.all([
      api.get(apiPath("runs", { kind: "diagnose", state: "succeeded", limit: 100 })).catch(() => ({ runs: [] })),
      api.get(apiPath("runs", { kind: "evaluate", state: "succeeded", limit: 100 })).catch(() => ({ runs: [] })),
    ]);
    const runs = [...(d.runs || []), ...(e.runs || []).filter((r) => r.healthy !== null)].sort((a, b) => b.id - a.id);
    const keep = this.run.value || this.wanted || "";
    this.run.replaceChildren(h("option", { value: "" }, runs.length ? "choose a run" : "no succeeded diagnosis runs"),
      ...runs.map((r) => h("option", { value: r.id }, `#${r.id} ${r.kind}${r.name ? ` — ${r.name}` : ""} (${r.model || "?"}; ` +
        `sink ${r.bos_sink}, dead ${r.dead})`)));
    this.run.value = keep;
    this.preview();
  }

  async preview() {
    const id = Number(this.run.value);
    if (!id || this.mode.value !== "rule") {
      this.count.textContent = "";
      return;
    }
    if (!this.rows.has(id)) {
      const r = await api.get(apiPath(`runs/${id}/heads`)).catch(() => ({ heads: [] }));
      this.rows.set(id, (r.heads || []).filter((x) => x.checkpoint === ""));
    }
    const classes = this.classes.filter((c) => c.checked).map((c) => c.value);
    const lr = this.layers.value.trim() ? range(this.layers.value) : null;
    const hr = this.heads.value.trim() ? range(this.heads.value) : null;
    const n = this.rows.get(id).filter((x) => classes.includes(x.class) && (!lr || (x.layer >= lr[0] && x.layer <= lr[1])) &&
      (!hr || (x.head >= hr[0] && x.head <= hr[1]))).length;
    this.count.textContent = `${n} head${n === 1 ? "" : "s"} picked`;
    this.count.dataset.count = n;
  }

  fill(targets) {
    if (targets && typeof targets === "object" && "from_run" in targets) {
      this.setMode("rule");
      this.wanted = String(targets.from_run);
      this.run.value = this.wanted;
      const classes = targets.classes || ["bos-sink", "dead"];
      for (const c of this.classes) c.checked = classes.includes(c.value);
      this.layers.value = targets.layers === undefined ? "" : String(targets.layers);
      this.heads.value = targets.heads === undefined ? "" : String(targets.heads);
      this.preview();
    } else if (targets) {
      this.setMode("json");
      this.json.value = JSON.stringify(targets);
    }
  }

  read() {
    if (this.mode.value === "json") {
      try {
        return JSON.parse(this.json.value);
      } catch (e) {
        throw new FormError("targets", "targets: not valid JSON");
      }
    }
    if (!this.run.value) throw new FormError("targets", "targets: choose a diagnosis run");
    const t = { from_run: Number(this.run.value), classes: this.classes.filter((c) => c.checked).map((c) => c.value) };
    if (this.layers.value.trim()) t.layers = this.layers.value.trim();
    if (this.heads.value.trim()) t.heads = this.heads.value.trim();
    return t;
  }
}

export class SpecForm {
  // prefix: id prefix of every control; kinds: GET /kinds' list.
  constructor(prefix, kinds) {
    this.prefix = prefix;
    this.kinds = kinds;
    this.el = h("div", { class: "spec-form" });
    this.controls = new Map(); // field name -> {meta, input, error}
  }

  setKind(kind) {
    this.kind = kind;
    const meta = this.kinds.find((k) => k.name === kind);
    this.controls.clear();
    this.targets = null;
    if (!meta) {
      this.el.replaceChildren(h("p", { class: "error-text" }, `unknown kind ${kind}`));
      return;
    }
    const required = meta.fields.filter((f) => f.required || ["texts", "eval_texts", "prompts"].includes(f.name));
    const optional = meta.fields.filter((f) => !required.includes(f));
    this.more = h("details", { class: "more-options" }, h("summary", null, `more options (${optional.length})`),
      h("div", { class: "spec-fields" }, optional.map((f) => this.field(f))));
    this.el.replaceChildren(
      h("p", { class: "muted" }, meta.description),
      h("div", { class: "spec-fields" }, required.map((f) => this.field(f))),
      optional.length ? this.more : null,
      h("fieldset", { class: "spec-fields run-meta" }, h("legend", null, "run"), COMMON.map((f) => this.field(f))));
  }

  field(f) {
    const id = `${this.prefix}-f-${f.name}`;
    const help = h("span", { class: "muted small-print", id: `${id}-help` }, f.help || "");
    const error = h("span", { class: "field-error", id: `${id}-error`, hidden: true });
    let input;
    if (this.kind === "surgery" && f.name === "targets") {
      this.targets = new TargetsPicker(id);
      this.controls.set(f.name, { meta: f, picker: this.targets, error });
      return h("div", { class: "field wide", dataset: { field: f.name } }, this.targets.el, help, error);
    }
    const attrs = { id, "aria-describedby": `${id}-help` };
    if (f.enum) input = h("select", attrs, h("option", { value: "" }, "(default)"), f.enum.map((v) => h("option", { value: v }, v)));
    else if (f.type === "boolean") input = h("select", attrs, h("option", { value: "" }, "(default)"),
      h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"));
    else if (f.type === "integer" || f.type === "number") {
      input = h("input", { ...attrs, type: "number", step: f.type === "integer" ? 1 : "any",
        min: f.min !== null && f.min !== undefined && !f.exclusive_min ? f.min : null, max: f.max !== null && f.max !== undefined ? f.max : null });
    } else if (LIST_FIELDS.has(f.type) || f.type === "text" || f.type === "object" || f.type === "any" || f.name === "text")
      input = h("textarea", { ...attrs, rows: LIST_FIELDS.has(f.type) || f.name === "text" ? 4 : 2, cols: 50 });
    else input = h("input", { ...attrs, type: "text", size: 30, list: f.name === "model" ? "spec-models" : null });
    if (f.required) input.required = true;
    this.controls.set(f.name, { meta: f, input, error });
    const suffix = LIST_FIELDS.has(f.type) ? " (one per line)" : f.type === "object" || f.type === "any" ? " (JSON)"
      : f.type === "number[]" ? " (comma separated)" : "";
    return h("div", { class: `field${input.tagName === "TEXTAREA" ? " wide" : ""}`, dataset: { field: f.name } },
      h("label", { for: id }, f.name + suffix, f.required ? h("span", { "aria-hidden": "true" }, " *") : null), input, help, error);
  }

  fill(spec) {
    let openMore = false;
    for (const [name, c] of this.controls) {
      const v = spec[name];
      if (v === undefined || v === null) continue;
      if (this.more && this.more.contains(c.input || (c.picker && c.picker.el))) openMore = true;
      if (c.picker) c.picker.fill(v);
      else if (c.meta.type === "tags") c.input.value = v.join(" ");
      else if (LIST_FIELDS.has(c.meta.type)) c.input.value = v.join("\n");
      else if (c.meta.type === "number[]") c.input.value = v.join(", ");
      else if (typeof v === "object") c.input.value = JSON.stringify(v);
      else c.input.value = String(v);
    }
    if (openMore) this.more.open = true;
  }

  // The spec from the controls; empty controls are left out (the kind's defaults apply).
  read() {
    const spec = { kind: this.kind };
    for (const [name, c] of this.controls) {
      if (c.picker) {
        spec[name] = c.picker.read();
        continue;
      }
      const raw = c.input.value;
      if (raw.trim() === "") continue;
      const t = c.meta.type;
      if (t === "tags") spec[name] = raw.trim().split(/[\s,]+/);
      else if (LIST_FIELDS.has(t)) spec[name] = raw.split("\n").filter((x) => x.trim() !== "");
      else if (t === "number[]") spec[name] = raw.split(/[\s,]+/).filter(Boolean).map(Number);
      else if (t === "integer" || t === "number") spec[name] = Number(raw);
      else if (t === "boolean") spec[name] = raw === "true";
      else if (t === "object" || (t === "any" && /^\s*[[{"\d]/.test(raw))) {
        try {
          spec[name] = JSON.parse(raw);
        } catch (e) {
          throw new FormError(name, `${name}: not valid JSON`);
        }
      } else spec[name] = raw;
    }
    return spec;
  }

  // Clears every error, then shows e (an ApiError or FormError) next to its field's control.
  // Returns the control it was shown at, or null when the error names no field of this form.
  showError(e, { stripJob = false } = {}) {
    for (const c of this.controls.values()) showFieldError(c.picker ? c.picker.control : c.input, c.error, null);
    const name = e ? fieldOf(e, { stripJob }) : null;
    const c = name && this.controls.get(name);
    if (!c) return null;
    const control = c.picker ? c.picker.control : c.input;
    showFieldError(control, c.error, e.describe ? e.describe() : String(e));
    if (this.more && this.more.contains(control)) this.more.open = true;
    return control;
  }
}

// The kinds of GET /kinds, the research kinds first in their usual order.
export function orderKinds(kinds) {
  const first = ["diagnose", "evaluate", "surgery", "generate", "inspect"];
  const rank = (k) => (first.includes(k.name) ? first.indexOf(k.name) : first.length);
  return [...kinds].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

// Suggestions for the model fields: models of recent runs and surgeries' best checkpoints.
export async function modelSuggestions() {
  const r = await api.get(apiPath("runs", { limit: 200 })).catch(() => ({ runs: [] }));
  const names = new Set();
  for (const run of r.runs || []) {
    if (run.model) names.add(run.model);
    if (run.kind === "surgery" && run.best_checkpoint) names.add(`run:${run.id}/${run.best_checkpoint}`);
  }
  return h("datalist", { id: "spec-models" }, [...names].map((n) => h("option", { value: n })));
}
