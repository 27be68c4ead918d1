// Switches between the jobs page and the research views (runs table, run view, compare view)
// by the URL hash, marks the current view in the navigation (aria-current), and moves focus to
// the new view's heading so that keyboard and screen-reader users land in it.

import { ComparePage } from "./compare_page.js";
import { parseRoute } from "./route.js";
import { RunPage } from "./run_page.js";
import { RunsPage } from "./runs_page.js";

export class Views {
  constructor({ jobsView, researchView, nav, onError }) {
    this.jobsView = jobsView;
    this.researchView = researchView;
    this.nav = nav;
    this.pages = {
      runs: new RunsPage(document.createElement("div"), { onError }),
      run: new RunPage(document.createElement("div")),
      compare: new ComparePage(document.createElement("div")),
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
    const view = r && this.pages[r.view] ? r.view : null;
    const changed = view !== this.lastView || (view === "run" && r.arg !== this.lastArg);
    if (this.current && (changed || view !== "runs")) this.current.hide();
    this.jobsView.hidden = view !== null;
    this.researchView.hidden = view === null;
    for (const a of this.nav.querySelectorAll("a[data-view]")) {
      const on = a.dataset.view === (view === null ? "jobs" : view === "runs" || view === "run" ? "runs" : "compare");
      if (on) a.setAttribute("aria-current", "page");
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
    else page.show(r.params);
    document.title = `Head Surgeon — ${view === "run" ? `run #${r.arg}` : view}`;
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
