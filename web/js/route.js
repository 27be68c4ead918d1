// The research views' addresses, kept in the URL hash so that every view is a shareable link:
// #/runs?kind=…&state=…  (the runs table with its filters, order and page), #/run/<id>,
// #/run/<id>/head/<layer>/<head> (one head),
// #/compare?a=<side>&b=<side>&drift=<x>. The jobs page keeps its own #job=<id>.

export function parseRoute(hash = location.hash) {
  const m = /^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(hash);
  if (!m) return null;
  return { view: m[1], arg: m[2] ? decodeURIComponent(m[2]) : null, params: new URLSearchParams(m[3] || "") };
}

// "#/runs?kind=diagnose" from ("runs", null, {kind: "diagnose", state: ""}); empty values left out.
export function routeHash(view, arg, params) {
  const q = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? [...params] : Object.entries(params || {});
  for (const [k, v] of entries) {
    if (Array.isArray(v)) v.forEach((x) => x !== "" && q.append(k, x));
    else if (v !== undefined && v !== null && v !== "") q.append(k, String(v));
  }
  const qs = q.toString();
  return `#/${view}${arg !== null && arg !== undefined ? "/" + encodeURIComponent(arg) : ""}${qs ? "?" + qs : ""}`;
}

export function go(hash, { replace = false } = {}) {
  if (location.hash === hash) return;
  if (replace) {
    history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else location.hash = hash;
}

// "#/run/7/head/1/6": one head of a run (the head view); params as for routeHash.
export function headHash(run, layer, head, params) {
  const base = routeHash("run", null, params).replace(/^#\/run/, "");
  return `#/run/${run}/head/${layer}/${head}${base}`;
}
