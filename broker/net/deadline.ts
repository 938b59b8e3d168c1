// Time limits, in the two forms the broker needs: a promise that must settle in time
// (a client that connects and then says nothing), and a signal that also aborts after
// a while (a provider request, a target login).

/** Settles like work, or rejects with onTimeout() after ms (the timer is cleared either way). */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The caller's signal, also aborting (with a TimeoutError) after ms. */
export function signalWithTimeout(signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(ms)]);
}
