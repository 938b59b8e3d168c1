// Who may use an `ssh` service: by default only holders of the local user's keys (their
// ~/.ssh/authorized_keys and ~/.ssh/*.pub), or the keys the service lists. `none`
// (anyone who can reach the listener) only when the service says so.
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parsePublicKeys, type SshPublicKey } from '../../ssh/keys.js';

export type ClientAuth = { type: 'none' } | { type: 'publickey'; source: string; load(): Promise<SshPublicKey[]> };

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);

async function readIfPresent(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** The default: the keys of the user running the broker. */
async function localUserKeys(): Promise<SshPublicKey[]> {
  const dir = join(homedir(), '.ssh');
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.pub'));
  } catch {
    // no ~/.ssh: nobody is authorized
  }
  const texts = await Promise.all([join(dir, 'authorized_keys'), ...names.map((n) => join(dir, n))].map(readIfPresent));
  return parsePublicKeys(texts.join('\n'));
}

/** Reads `clientAuth` and `authorizedKeys`; returns an error message for bad settings. */
export function clientAuthFor(config: { clientAuth?: unknown; authorizedKeys?: unknown }): ClientAuth | string {
  const mode = config.clientAuth ?? 'publickey';
  if (mode === 'none') return { type: 'none' };
  if (mode !== 'publickey') return `config.clientAuth must be 'publickey' or 'none'`;
  const keys = config.authorizedKeys;
  if (keys === undefined || keys === null) return { type: 'publickey', source: '~/.ssh/authorized_keys and ~/.ssh/*.pub', load: localUserKeys };
  if (typeof keys === 'string') {
    // A key line itself, or a path to a file in authorized_keys format (re-read per connection).
    if (parsePublicKeys(keys).length > 0) {
      const parsed = parsePublicKeys(keys);
      return { type: 'publickey', source: 'config.authorizedKeys', load: async () => parsed };
    }
    const path = expandHome(keys);
    return { type: 'publickey', source: path, load: async () => parsePublicKeys(await readIfPresent(path)) };
  }
  if (Array.isArray(keys) && keys.every((k) => typeof k === 'string')) {
    const parsed = parsePublicKeys(keys.join('\n'));
    if (parsed.length !== keys.length) return 'config.authorizedKeys: every entry must be a public key line (ssh-ed25519 AAAA...)';
    return { type: 'publickey', source: 'config.authorizedKeys', load: async () => parsed };
  }
  return 'config.authorizedKeys must be a file path or a list of public key lines';
}
