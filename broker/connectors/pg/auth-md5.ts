// MD5 password authentication: "md5" + md5(md5(password + username) + salt).
import { createHash } from 'node:crypto';
import type { PgAuthMechanism } from './auth-mechanism.js';
import { encodePasswordMessage, type AuthRequest } from './codec.js';

export function md5PasswordResponse(username: string, password: Buffer, salt: Buffer): Buffer {
  const inner = createHash('md5').update(password).update(username, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'utf8').update(salt).digest('hex');
  return Buffer.from('md5' + outer, 'utf8');
}

export const md5Mechanism: PgAuthMechanism<Extract<AuthRequest, { type: 'md5' }>> = {
  start: (req, input) => ({ method: 'md5', first: encodePasswordMessage(md5PasswordResponse(input.username, input.password('md5'), req.salt)) }),
};
