// The broker's own SSH host key: ed25519, generated once per installation, kept 0600 in
// the app state directory so users can pin its fingerprint in known_hosts.
import * as crypto from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fingerprintOf, parsePrivateKey, sshString } from './keys.js';

export const SSH_HOST_KEY_FILE = 'ssh-host-ed25519.key';

export interface SshHostKey {
  /** OpenSSH private key text (never logged). */
  privateKey: string;
  /** `ssh-ed25519 AAAA...`, the known_hosts key part. */
  publicKey: string;
  fingerprint: string;
  path: string;
}

async function loadUsable(path: string): Promise<SshHostKey | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    // A key others could read may have leaked: replace it rather than keep using it.
    if (process.platform !== 'win32' && info.mode & 0o077) return undefined;
    const key = parsePrivateKey(Buffer.from(text), undefined, 'the broker host key');
    // 4 + 11 + 4 + 32 bytes: a key whose 32-byte public half lost a leading zero (ssh2's
    // generator does that 1 time in 256) is unreadable to ssh-keygen; replace it.
    if (key.type !== 'ssh-ed25519' || key.publicBlob.length !== 51) return undefined;
    return { privateKey: text, publicKey: `${key.type} ${key.publicBlob.toString('base64')}`, fingerprint: key.fingerprint, path };
  } catch {
    return undefined;
  }
}

// One load per directory at a time, so two services starting together agree on the key.
const inFlight = new Map<string, Promise<SshHostKey>>();

/** Loads the host key from dir, creating it (0600, atomically) when missing or unusable. */
export function ensureSshHostKey(dir: string): Promise<SshHostKey> {
  let pending = inFlight.get(dir);
  if (!pending) {
    pending = loadOrCreate(dir).finally(() => inFlight.delete(dir));
    inFlight.set(dir, pending);
  }
  return pending;
}

async function loadOrCreate(dir: string): Promise<SshHostKey> {
  const path = join(dir, SSH_HOST_KEY_FILE);
  const existing = await loadUsable(path);
  if (existing) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = generateEd25519('secretless-desktop broker');
  const temp = `${path}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, pair.private, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { privateKey: pair.private, publicKey: `ssh-ed25519 ${pair.publicBlob.toString('base64')}`, fingerprint: fingerprintOf(pair.publicBlob), path };
}

/**
 * A new ed25519 key in the unencrypted openssh-key-v1 format (PROTOCOL.key), written
 * here rather than by ssh2, whose generator drops a leading zero byte of the public key.
 */
export function generateEd25519(comment: string, key = crypto.generateKeyPairSync('ed25519').privateKey): { private: string; publicBlob: Buffer } {
  const jwk = key.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = crypto.randomBytes(4);
  let secret = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const padding = Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1);
  secret = Buffer.concat([secret, Buffer.from(padding)]);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), count, sshString(publicBlob), sshString(secret)]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  const label = 'OPENSSH PRIVATE KEY';
  return { private: [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`, ''].join('\n'), publicBlob };
}

/**
 * The fingerprint `secretless-desktop status` and the UI show (`SHA256:...`), creating
 * the key on first use so the value users pin is the one the broker will present.
 */
export async function sshHostKeyFingerprint(stateDir: string): Promise<string> {
  return (await ensureSshHostKey(stateDir)).fingerprint;
}
