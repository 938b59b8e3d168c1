// What the gcp and azure identity entries hand out: a bearer access token and when it
// stops being valid (the database password for Cloud SQL / Azure Database logins).

export interface AccessToken {
  token: string;
  expiresAt: Date;
}

export interface EntryTokenSource {
  /** The current access token of the `identities:` entry `name`. */
  token(name: string, signal: AbortSignal): Promise<AccessToken>;
}
