// mysql_clear_password: the password itself, NUL-terminated. Servers that check the
// password elsewhere ask for it: PAM and LDAP plugins, Cloud SQL and Azure Database IAM
// / Entra logins (the password is an access token). Sent only over TLS or a Unix
// socket, as MySQL's own clients insist (they need --enable-cleartext-plugin even then).
import { BrokerError } from '../../errors.js';
import type { AuthMechanism } from './auth-mechanism.js';

export const CLEAR_PASSWORD_PLUGIN = 'mysql_clear_password';

export const clearPasswordMechanism: AuthMechanism = {
  plugin: CLEAR_PASSWORD_PLUGIN,
  answersGreeting: false,
  switchNonce: (data) => data,
  start: ({ password, secure }) => {
    if (!secure) throw new BrokerError('unsupported_auth', 'the target asked for mysql_clear_password over an unencrypted link: use sslmode require or stricter (or a Unix socket) so the password is not sent in clear');
    return { first: Buffer.concat([password, Buffer.from([0])]) };
  },
};
