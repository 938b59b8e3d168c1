// Cleartext password authentication ("password" in pg_hba): the password itself.
// Only safe over TLS; the broker logs a warning when the backend link is plain.
import type { PgAuthMechanism } from './auth-mechanism.js';
import { encodePasswordMessage, type AuthRequest } from './codec.js';

export const cleartextMechanism: PgAuthMechanism<Extract<AuthRequest, { type: 'cleartext' }>> = {
  start(_req, input) {
    if (!input.tlsSocket) input.warn('target asked for a cleartext password over an unencrypted link');
    return { method: 'password', first: encodePasswordMessage(input.password('password')) };
  },
};
