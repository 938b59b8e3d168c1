// Which credential keys hold secrets: the UI never writes them as literals, and a config
// file with such a literal should be readable by its owner only.

const SECRET_KEY = /pass|secret|token|private|key$|^key|credential/i;

export function isSecretCredential(key: string): boolean {
  return SECRET_KEY.test(key);
}
