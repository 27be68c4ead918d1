// The dashboard's one polling helper. startPolling(fn, intervalMs, options) calls fn now and then
// again and again until the returned stop() is called or fn returns STOP. fn may return a number
// of milliseconds to wait instead of intervalMs (a log with more to read asks again soon). While
// the tab is hidden the wait is at least hiddenFactor × intervalMs, and a visible tab polls at
// once; after failures the wait doubles (up to maxBackoffMs). A failed call is otherwise
// swallowed: the header shows the connection state.

export const STOP = Symbol("stop polling");

export function startPolling(fn, intervalMs, { hiddenFactor = 5, maxBackoffMs = 8 * intervalMs } = {}) {
  let timer = null;
  let stopped = false;
  let running = false;
  let failures = 0;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
  const tick = async () => {
    if (stopped || running) return;
    clearTimeout(timer);
    running = true;
    let asked;
    try {
      asked = await fn();
      failures = 0;
    } catch (e) {
      failures++;
    }
    running = false;
    if (stopped) return;
    if (asked === STOP) {
      stop();
      return;
    }
    let delay = typeof asked === "number" ? asked : intervalMs;
    if (document.hidden) delay = Math.max(delay, hiddenFactor * intervalMs);
    if (failures) delay = Math.min(Math.max(maxBackoffMs, delay), delay * 2 ** Math.min(failures, 3));
    timer = setTimeout(tick, delay);
  };
  const onVisible = () => {
    if (!document.hidden) tick();
  };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return stop;
}
