// An API refusal shown next to the form control it names: the error body's `field`
// ("texts", "targets.from_run", "job.model", "heads[1]") mapped to a control, the message put in
// the control's error element, aria-invalid set and the error element added to the control's
// aria-describedby (and taken out again when the error clears).

// The top-level field an ApiError names ("targets" for "targets.from_run"; prefix "job." of a
// schedule's job dropped when asked), or null.
export function fieldOf(e, { stripJob = false } = {}) {
  let f = e && e.field;
  if (!f) return null;
  if (stripJob && f.startsWith("job.")) f = f.slice(4);
  return f.split(/[.[]/)[0] || null;
}

export function showFieldError(control, errorEl, message) {
  const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter((x) => x && x !== errorEl.id);
  if (message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    control.setAttribute("aria-invalid", "true");
    ids.push(errorEl.id);
  } else {
    errorEl.textContent = "";
    errorEl.hidden = true;
    control.removeAttribute("aria-invalid");
  }
  if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
  else control.removeAttribute("aria-describedby");
}
