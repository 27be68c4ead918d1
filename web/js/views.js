// Switches between the jobs page and the research views (runs table, run view, head view,
// compare view, sick bands, schedules, new job) by the URL hash, marks the current view in the
// navigation (aria-current), and moves focus to the new view's heading so that keyboard and
// screen-reader users land in it.

import { BandsPage } from "./bands_page.js";
import { ComparePage } from "./compare_page.js";
import { HeadPage } from "./head_page.js";
import { NewJobPage } from "./new_job_page.js";
import { parseRoute } from "./route.js";
import { RunPage } from "./run_page.js";
import { RunsPage } from "./runs_page.js";
import { SchedulesPage } from "./schedules_page.js";

// The navigation entry each view belongs to.
const NAV_OF = { runs: "runs", run: "runs", head: "runs", bands: "runs", compare: "compare", schedules: "schedules", new: "new" };
const TITLES = { runs: "runs", compare: "compare", bands: "sick bands", schedules: "schedules", new: "new job" };

export class Views {
  constructor({ jobsView, researchView, nav, onError }) {
    this.jobsView = jobsView;
    this.researchView = researchView;
    this.nav = nav;
    this.pages = {
      runs: new RunsPage(document.createElement("div"), { onError }),
      run: new RunPage(document.createElement("div")),
      head: new HeadPage(document.createElement("div")),
      compare: new ComparePage(document.createElement("div")),
      bands: new BandsPage(document.createElement("div")),
      schedules: new SchedulesPage(document.createElement("div")),
      new: new NewJobPage(document.createElement("div")),
    };
    this.current = null;
    this.lastView = null;
  }

  // Shows the view the hash names; returns false when it names none (the jobs page's turn).
  route() {
    // Setting location.hash fires both popstate and hashchange: route each address once.
    if (location.hash === this.lastHash) return this.lastView !== null;
    this.lastHash = location.hash;
    const r = parseRoute();
    let view = r && this.pages[r.view] ? r.view : null;
    const headOf = view === "run" && /^(\d+)\/head\/(\d+)\/(\d+)$/.exec(r.arg || "");
    if (headOf) view = "head";
    const changed = view !== this.lastView || (["run", "head", "schedules"].includes(view) && r.arg !== this.lastArg);
    if (this.current && (changed || view !== "runs")) this.current.hide();
    this.jobsView.hidden = view !== null;
    this.researchView.hidden = view === null;
    for (const a of this.nav.querySelectorAll("a[data-view]")) {
      if (a.dataset.view === (view === null ? "jobs" : NAV_OF[view])) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    this.lastView = view;
    this.lastArg = r && r.arg;
    if (view === null) {
      this.current = null;
      document.title = "Head Surgeon — jobs";
      return false;
    }
    const page = this.pages[view];
    if (this.researchView.firstChild !== page.root) this.researchView.replaceChildren(page.root);
    this.current = page;
    if (view === "runs") page.show(r.params);
    else if (view === "run") page.show(Number(r.arg), r.params);
    else if (view === "head") page.show(Number(headOf[1]), Number(headOf[2]), Number(headOf[3]), r.params);
    else if (view === "schedules") page.show(r.arg ? Number(r.arg) : null, r.params);
    else page.show(r.params);
    document.title = `Head Surgeon — ${view === "run" ? `run #${r.arg}` : view === "head"
      ? `run #${headOf[1]} L${headOf[2]} H${headOf[3]}` : TITLES[view]}`;
    if (changed) {
      const h2 = page.root.querySelector("h2");
      if (h2) {
        h2.tabIndex = -1;
        h2.focus({ preventScroll: true });
      }
    }
    return true;
  }
}
