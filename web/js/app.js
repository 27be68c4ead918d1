// Entry point of the dashboard: wires the store, the queue panel, the jobs table and the
// detail panel together; the header (version, connection state, API token), the message
// banner, the #job=<id> address of the selected job, and the research views (views.js) that
// #/runs, #/run/<id> and #/compare name.

import { api, apiPath, getToken, setToken } from "./api.js";
import { h } from "./format.js";
import { JobDetail } from "./job_detail.js";
import { JobsStore } from "./jobs_store.js";
import { JobsTable } from "./jobs_table.js";
import { QueuePanel } from "./queue_panel.js";
import { SchedulesPanel } from "./schedules_panel.js";
import { Views } from "./views.js";

const $ = (id) => document.getElementById(id);

// ---- banner -------------------------------------------------------------------------------
function showBanner(text, { kind = "error", action = null } = {}) {
  const banner = $("banner");
  const dismiss = h("button", { type: "button", class: "small ghost", "aria-label": "Dismiss" }, "✕");
  dismiss.addEventListener("click", () => (banner.hidden = true));
  banner.className = `banner ${kind}`;
  banner.replaceChildren(h("span", { class: "banner-text" }, text), action, h("span", { class: "spacer" }), dismiss);
  banner.hidden = false;
}

// ---- token ------------------------------------------------------------------------------
function renderTokenButton() {
  const btn = $("token-btn");
  const has = !!getToken();
  btn.textContent = has ? "API token ✓" : "API token";
  btn.title = has ? "A bearer token is stored in this browser" : "No token stored; set one if the daemon has --token-file";
}

function openTokenDialog() {
  const dlg = $("token-dialog");
  $("token-input").value = getToken();
  if (typeof dlg.showModal === "function") dlg.showModal();
  else dlg.setAttribute("open", "");
  $("token-input").focus();
}

function setupToken() {
  renderTokenButton();
  $("token-btn").addEventListener("click", openTokenDialog);
  $("token-form").addEventListener("submit", (ev) => {
    const which = ev.submitter && ev.submitter.value;
    if (which === "save") setToken($("token-input").value.trim());
    else if (which === "clear") setToken("");
  });
  window.addEventListener("hs-token-changed", () => {
    renderTokenButton();
    $("banner").hidden = true;
  });
  window.addEventListener("hs-auth-required", () => {
    const set = h("button", { type: "button", class: "small primary" }, "set token");
    set.addEventListener("click", openTokenDialog);
    showBanner(getToken()
      ? "The daemon rejected the stored API token (401). Paste the current token from the daemon's --token-file."
      : "This daemon requires an API token for changes (401). Paste the token from its --token-file.",
      { kind: "auth", action: set });
  });
}

// ---- connection and version -----------------------------------------------------------------
function setupConnection() {
  const conn = $("conn");
  window.addEventListener("hs-connection", (ev) => {
    const ok = ev.detail.ok;
    conn.className = `conn ${ok ? "ok" : "down"}`;
    conn.textContent = ok ? "live" : "daemon unreachable — retrying";
  });
  api.get(apiPath("version")).then((v) => {
    let text = v && (v.version || v.name) ? `v${v.version || v.name}` : "";
    if (v && v.test_build) text += " · test build";
    $("version").textContent = text;
    if (v && v.backends) $("version").title = `backends: ${[].concat(v.backends).join(", ")}`;
  }).catch(() => {});
}

// ---- main ---------------------------------------------------------------------------------
function selectedFromHash() {
  const m = /(?:^#|&)job=(\d+)/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

function main() {
  setupToken();
  setupConnection();
  const store = new JobsStore();

  const cancel = async (id) => {
    try {
      const r = await api.post(apiPath(`jobs/${id}/cancel`));
      if (r && r.id === id) store.put(r);
      else if (r && r.job && r.job.id === id) store.put(r.job);
      await store.refresh();
    } catch (e) {
      if (e.status !== 401) showBanner(`Could not cancel job #${id}: ${e.describe ? e.describe() : e}`);
    }
  };
  const select = (id) => {
    if (id === null) {
      if (location.hash) history.pushState(null, "", location.pathname + location.search);
    } else if (selectedFromHash() !== id) location.hash = `job=${id}`;
    route();
  };

  const table = new JobsTable($("jobs-list"), store, { onSelect: select, onCancel: cancel });
  const detail = new JobDetail($("detail-pane"), store, { onCancel: cancel, onClose: () => select(null) });
  const queue = new QueuePanel($("queue-panel"), store, {
    onSelect: select,
    onError: (msg, e) => {
      if (!e || e.status !== 401) showBanner(msg);
    },
  });

  const views = new Views({
    jobsView: $("jobs-view"), researchView: $("research-view"), nav: $("views-nav"),
    onError: (msg, e) => {
      if (!e || e.status !== 401) showBanner(msg);
    },
  });

  function route() {
    if (views.route()) return;
    const id = selectedFromHash();
    table.select(id);
    document.body.classList.toggle("has-detail", id !== null);
    if (id === null) detail.close();
    else detail.show(id);
  }
  window.addEventListener("hashchange", route);
  window.addEventListener("popstate", route);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("token-dialog").open && selectedFromHash() !== null) select(null);
  });

  api.get(apiPath("kinds")).then((r) => {
    const list = Array.isArray(r) ? r : (r && r.kinds) || [];
    table.setKinds(list.map((k) => (typeof k === "string" ? k : k.name)));
  }).catch(() => {});

  // The tab title counts running jobs, so a background tab tells whether work is going on.
  store.onChange(() => {
    if ($("jobs-view").hidden) return;
    const running = store.list().filter((j) => j.state === "running").length;
    const title = `${running ? `(${running} running) ` : ""}Head Surgeon — jobs`;
    if (document.title !== title) document.title = title;
  });

  const schedules = new SchedulesPanel($("schedules-panel"), {
    onError: (msg, e) => {
      if (!e || e.status !== 401) showBanner(msg);
    },
  });

  route();
  store.start();
  queue.start();
  schedules.start();
}

main();
