// A small typed event feed: subscribe() returns the unsubscribe function, emit() reaches
// every subscriber even when one of them throws (a closed stream must not starve the
// others).

export interface Emitter<E> {
  emit(event: E): void;
  subscribe(listener: (event: E) => void): () => void;
  size(): number;
  clear(): void;
}

export function createEmitter<E>(onListenerError?: (err: unknown) => void): Emitter<E> {
  const listeners = new Set<(event: E) => void>();
  return {
    emit(event) {
      // A copy: a listener may unsubscribe itself while being called.
      for (const fn of [...listeners]) {
        try {
          fn(event);
        } catch (err) {
          onListenerError?.(err);
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    size: () => listeners.size,
    clear: () => listeners.clear(),
  };
}
