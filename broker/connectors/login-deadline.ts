// The signal a target login runs under: the connection's own, plus a deadline. What
// AbortSignal.any([signal, AbortSignal.timeout(ms)]) gives, at a fraction of the cost on
// the login path: Node builds `any` on weak references and a finalization registry, and
// the timeout signal's timer lived on for the whole deadline after the login was over
// (thousands of pending timers and signals under connection churn). Here done() clears
// the timer and the listener once the login has finished.

export interface LoginDeadline {
  signal: AbortSignal;
  /** The login is over (either way): stop the timer, let go of the parent signal. */
  done(): void;
}

export function loginDeadline(parent: AbortSignal, ms: number): LoginDeadline {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, done: () => {} };
  }
  const onAbort = () => finish(parent.reason);
  // The same reason AbortSignal.timeout gives: abortError() (broker/net/abort.ts) tells it apart.
  const timer = setTimeout(() => finish(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  timer.unref();
  parent.addEventListener('abort', onAbort, { once: true });
  function finish(reason?: unknown): void {
    clearTimeout(timer);
    parent.removeEventListener('abort', onAbort);
    if (reason !== undefined && !controller.signal.aborted) controller.abort(reason);
  }
  return { signal: controller.signal, done: () => finish() };
}
