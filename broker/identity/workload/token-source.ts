// Where a workload identity's token comes from: one file per identity type
// (github-actions.ts, token-file.ts, token-env.ts), all in this shape.

export interface TokenSource {
  /** Where the token comes from, for status before a token is read (never the token). */
  readonly origin: string;
  /** The current token, as the platform hands it out now. Errors never carry the token. */
  read(signal: AbortSignal): Promise<string>;
  /** Calls onChange when the token may have changed (a rotated file); returns the stop function. */
  watch?(onChange: () => void, onError: (reason: string) => void): () => void;
}

