// SSH keys: private keys from providers (OpenSSH or PEM; ed25519, ecdsa, rsa; optional
// passphrase), public keys in authorized_keys / known_hosts form, and SHA256
// fingerprints as `ssh-keygen -l` prints them. Errors never quote key material.
import * as crypto from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { CodedError } from '../errors.js';

const { utils } = ssh2;

/** Flags of an agent sign request (draft-miller-ssh-agent 4.5.1). */
export const SSH_AGENT_RSA_SHA2_256 = 2;
export const SSH_AGENT_RSA_SHA2_512 = 4;

export const KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

/** A key or key line that cannot be used (a credential or config value). */
export class SshKeyError extends CodedError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

export interface SshPrivateKey {
  /** Key type as in the public key blob, e.g. ssh-ed25519. */
  readonly type: string;
  readonly publicBlob: Buffer;
  /** `SHA256:...`, as ssh-keygen -l and ssh-add -l print it. */
  readonly fingerprint: string;
  readonly comment: string;
  /** The parsed key the ssh2 client takes as `privateKey` (already decrypted). */
  readonly ssh2Key: ParsedKey;
  /** An SSH signature blob (string algorithm, string signature) over data. */
  sign(data: Buffer, flags?: number): Buffer;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the public key blob. */
export function fingerprintOf(publicBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(publicBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Writes an SSH `string` (uint32 length + bytes). */
export function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** An unsigned big-endian magnitude as an SSH mpint. */
function mpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length && body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return sshString(body);
}

// Built from parts so that secret scanners do not mistake this source for a key file.
const PKCS8_LABEL = new RegExp(['-----BEGIN (ENCRYPTED )?', 'PRIVATE KEY-----'].join(''));

function isPkcs8(text: string): boolean {
  return PKCS8_LABEL.test(text);
}

/**
 * PKCS#8 (the `PRIVATE KEY` PEM label, also encrypted) is not read by ssh2, so rsa and ecdsa
 * keys in it are re-encoded as PKCS#1 / SEC1 in memory.
 */
function fromPkcs8(text: string, passphrase: Buffer | undefined, what: string): string {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: text, format: 'pem', ...(passphrase ? { passphrase } : {}) });
  } catch {
    throw new SshKeyError(`${what}: could not read the PKCS#8 private key (wrong or missing passphrase, or not a key)`);
  }
  if (key.asymmetricKeyType === 'rsa') return key.export({ type: 'pkcs1', format: 'pem' }) as string;
  if (key.asymmetricKeyType === 'ec') return key.export({ type: 'sec1', format: 'pem' }) as string;
  throw new SshKeyError(`${what}: ${key.asymmetricKeyType} keys in PKCS#8 form are not supported; use the OpenSSH format (ssh-keygen's default)`);
}

/**
 * Parses a private key. `what` names the key in errors (e.g. "service 'x' privateKey").
 * The key text is never part of an error message.
 */
export function parsePrivateKey(data: Buffer, passphrase: Buffer | undefined, what: string): SshPrivateKey {
  let text = data.toString('utf8').trim();
  if (!text.includes('PRIVATE KEY-----')) throw new SshKeyError(`${what} is not a private key (expected OpenSSH or PEM format)`);
  if (isPkcs8(text)) {
    text = fromPkcs8(text, passphrase, what);
    passphrase = undefined;
  }
  let parsed: ParsedKey | Error;
  try {
    const result = utils.parseKey(text, passphrase) as ParsedKey | ParsedKey[] | Error;
    parsed = Array.isArray(result) ? result[0]! : result;
  } catch {
    parsed = new Error('unreadable');
  }
  if (parsed instanceof Error) {
    // ssh2's messages name the problem class only ("Encrypted private OpenSSH key detected, but no passphrase given").
    const reason = /passphrase/i.test(parsed.message)
      ? passphrase
        ? 'the passphrase is wrong'
        : 'the key is encrypted and no passphrase is configured'
      : /bad decrypt|integrity|checkint/i.test(parsed.message)
        ? 'the passphrase is wrong'
        : 'unsupported or malformed key';
    throw new SshKeyError(`${what}: ${reason}`);
  }
  if (!parsed.isPrivateKey()) throw new SshKeyError(`${what} is a public key, not a private key`);
  const key = parsed;
  const publicBlob = key.getPublicSSH();
  const nodeKey = crypto.createPrivateKey(key.getPrivatePEM());
  return {
    type: key.type,
    publicBlob,
    fingerprint: fingerprintOf(publicBlob),
    comment: key.comment ?? '',
    ssh2Key: key,
    sign: (payload, flags = 0) => signBlob(key.type, nodeKey, payload, flags),
  };
}

function signBlob(type: string, key: crypto.KeyObject, data: Buffer, flags: number): Buffer {
  if (type === 'ssh-ed25519') return Buffer.concat([sshString(type), sshString(crypto.sign(null, data, key))]);
  if (type === 'ssh-rsa') {
    // The client asks for SHA-2 with flags; plain ssh-rsa (SHA-1) only when it asks for neither.
    const [algo, hash] =
      flags & SSH_AGENT_RSA_SHA2_512 ? ['rsa-sha2-512', 'sha512'] : flags & SSH_AGENT_RSA_SHA2_256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return Buffer.concat([sshString(algo), sshString(crypto.sign(hash, data, key))]);
  }
  const curve = /^ecdsa-sha2-nistp(256|384|521)$/.exec(type);
  if (curve) {
    const hash = { '256': 'sha256', '384': 'sha384', '521': 'sha512' }[curve[1] as '256' | '384' | '521'];
    const raw = crypto.sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
    const half = raw.length / 2;
    const inner = Buffer.concat([mpint(raw.subarray(0, half)), mpint(raw.subarray(half))]);
    return Buffer.concat([sshString(type), sshString(inner)]);
  }
  throw new SshKeyError(`cannot sign with a ${type} key`);
}

export interface SshPublicKey {
  type: string;
  blob: Buffer;
  fingerprint: string;
  comment: string;
  key: ParsedKey;
}

const TYPE_PATTERN = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/**
 * Public keys from authorized_keys, known_hosts or .pub text: on each line the first
 * token that is a key type, followed by base64. Options, host patterns, markers and
 * comments around it are skipped; lines that hold no key are ignored.
 */
export function parsePublicKeys(text: string): SshPublicKey[] {
  const keys: SshPublicKey[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#') || trimmed.startsWith('@revoked')) continue;
    const tokens = trimmed.split(/\s+/);
    const at = tokens.findIndex((t) => TYPE_PATTERN.test(t));
    if (at < 0 || at + 1 >= tokens.length) continue;
    const parsed = utils.parseKey(`${tokens[at]} ${tokens[at + 1]}`);
    if (parsed instanceof Error || Array.isArray(parsed)) continue;
    const blob = parsed.getPublicSSH();
    keys.push({ type: parsed.type, blob, fingerprint: fingerprintOf(blob), comment: tokens.slice(at + 2).join(' '), key: parsed });
  }
  return keys;
}
