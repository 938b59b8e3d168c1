// One credential reference of the config (`{ from, get }` or a literal), shared by the
// services and the identities.

/** Where one credential comes from. A YAML scalar is `{ provider: 'literal', id: <scalar> }`. */
export interface CredentialSpec {
  provider: string;
  id: string;
  /** 1-based line of the credential in the source file, for error messages. */
  line: number;
}
