// The dashboard's one polling helper: calls fn now and then every intervalMs, hiddenFactor
// times slower while the tab is hidden (and at once again when it becomes visible), until the
// returned stop() is called. A failed call is swallowed: the header shows the connection state.

export function startPolling(fn, intervalMs, hiddenFactor = 5) {
  let timer = null;
  let stopped = false;
  let running = false;
  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, document.hidden ? hiddenFactor * intervalMs : intervalMs);
  };
  const tick = async () => {
    if (stopped || running) return;
    running = true;
    try {
      await fn();
    } catch (e) {
      /* shown by the connection indicator */
    }
    running = false;
    schedule();
  };
  const onVisible = () => {
    if (!document.hidden && !stopped) tick();
  };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}
