// The broker's own SSH host key: ed25519, generated once per installation, kept 0600 in
// the app state directory so users can pin its fingerprint in known_hosts.
import * as crypto from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { fingerprintOf, parsePrivateKey } from './keys.js';

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
    if (key.type !== 'ssh-ed25519') return undefined;
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
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'secretless-desktop broker' });
  const temp = `${path}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, pair.private, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const publicKey = pair.public.split(/\s+/).slice(0, 2).join(' ');
  return { privateKey: pair.private, publicKey, fingerprint: fingerprintOf(Buffer.from(publicKey.split(' ')[1]!, 'base64')), path };
}

/**
 * The fingerprint `secretless-desktop status` and the UI show (`SHA256:...`), creating
 * the key on first use so the value users pin is the one the broker will present.
 */
export async function sshHostKeyFingerprint(stateDir: string): Promise<string> {
  return (await ensureSshHostKey(stateDir)).fingerprint;
}
