// Waiting for shared work (one provider fetch, one STS exchange for several
// connections) while letting this caller give up when its own signal aborts; the work
// itself runs on for the others.

/** Settles like work, or rejects with signal.reason when the signal aborts first. */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // nobody else may be waiting for it
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
