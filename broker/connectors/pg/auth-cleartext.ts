// Cleartext password authentication ("password" in pg_hba): the password itself.
// Only safe over TLS; the broker logs a warning when the backend link is plain.
export function cleartextPasswordResponse(password: Buffer): Buffer {
  return password;
}
