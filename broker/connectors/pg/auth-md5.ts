// MD5 password authentication: "md5" + md5(md5(password + username) + salt).
import { createHash } from 'node:crypto';

export function md5PasswordResponse(username: string, password: Buffer, salt: Buffer): Buffer {
  const inner = createHash('md5').update(password).update(username, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'utf8').update(salt).digest('hex');
  return Buffer.from('md5' + outer, 'utf8');
}
