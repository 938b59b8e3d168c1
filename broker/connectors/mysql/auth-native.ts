// mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
import { createHash } from 'node:crypto';
import { scrambleFromSwitch, type AuthMechanism } from './auth-mechanism.js';

export const NATIVE_PLUGIN = 'mysql_native_password';

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The 20-byte token for a 20-byte scramble; empty for an empty password (as the server expects). */
export function nativePasswordToken(password: Buffer, scramble: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(password);
  const mask = sha1(scramble.subarray(0, 20), sha1(stage1));
  for (let i = 0; i < stage1.length; i++) stage1[i]! ^= mask[i]!;
  return stage1;
}

export const nativeMechanism: AuthMechanism = {
  plugin: NATIVE_PLUGIN,
  answersGreeting: true,
  switchNonce: scrambleFromSwitch,
  start: ({ password, nonce }) => ({ first: nativePasswordToken(password, nonce) }),
};
