// Checks a target's host key against what the service pins: known_hosts lines (or
// plain public keys) and/or SHA256 fingerprints, several allowed (key rollover).
import { fingerprintOf, parsePublicKeys } from './keys.js';

export interface HostKeyPolicy {
  /** True when the presented host key blob is one of the pinned keys. */
  accepts(hostKeyBlob: Buffer): boolean;
  /** What is pinned, for messages: fingerprints only. */
  readonly pinned: string[];
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/**
 * Parses a `hostKey` credential. Returns an error message (naming `what`, never the
 * value) when it holds neither a key line nor a SHA256 fingerprint.
 */
export function parseHostKeyPolicy(value: string, what: string): HostKeyPolicy | string {
  const fingerprints = new Set<string>();
  for (const token of value.split(/[\s,]+/)) if (FINGERPRINT.test(token)) fingerprints.add(token.replace(/=$/, ''));
  for (const key of parsePublicKeys(value)) fingerprints.add(key.fingerprint);
  if (fingerprints.size === 0) return `${what} holds neither a known_hosts line nor a SHA256:... fingerprint`;
  const pinned = [...fingerprints];
  return { pinned, accepts: (blob) => fingerprints.has(fingerprintOf(blob)) };
}
