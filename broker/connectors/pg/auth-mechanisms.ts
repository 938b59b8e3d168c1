// The authentication methods the broker answers as a PostgreSQL client, by the
// AuthenticationXxx request that starts them.
import { cleartextMechanism } from './auth-cleartext.js';
import type { PgAuthExchange, PgAuthInput, PgAuthMechanism, StartRequest } from './auth-mechanism.js';
import { md5Mechanism } from './auth-md5.js';
import { scramMechanism } from './auth-scram.js';

const MECHANISMS: { [K in StartRequest['type']]: PgAuthMechanism<Extract<StartRequest, { type: K }>> } = {
  cleartext: cleartextMechanism,
  md5: md5Mechanism,
  sasl: scramMechanism,
};

export function startMechanism<R extends StartRequest>(req: R, input: PgAuthInput): PgAuthExchange {
  // The table is keyed by the request type, so the row takes this request.
  return (MECHANISMS[req.type] as PgAuthMechanism<R>).start(req, input);
}
