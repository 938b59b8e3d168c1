// When a session's tokens are refreshed next: `margin` before the ID token expires (at
// half the remaining life for tokens shorter than twice the margin), or, after failed
// attempts, with a backoff of 1, 2, 4 ... up to 30 s.

export function nextRefreshAt(expiresAt: number, failures: number, margin: number, now: number): number {
  if (failures === 0) {
    // Refreshing at once would loop for tokens that live shorter than the margin.
    const lead = Math.min(margin, Math.max(0, (expiresAt - now) / 2));
    return expiresAt - lead;
  }
  const backoff = Math.min(30_000, 1000 * 2 ** (failures - 1));
  // Retry with backoff, at the latest at expiry (past it, with backoff only).
  return expiresAt > now ? Math.min(now + backoff, expiresAt) : now + backoff;
}

/** One timer per session, replaced on every schedule, unref'd so it never keeps the process up. */
export function createRefreshTimer(onDue: () => void): { at(time: number, now: number): void; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    at(time, now) {
      clearTimeout(timer);
      timer = setTimeout(onDue, Math.max(0, time - now));
      timer.unref();
    },
    clear: () => clearTimeout(timer),
  };
}
