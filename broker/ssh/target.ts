// An SSH target's settings read from a service's resolved credentials: address, user,
// privateKey (+ passphrase) or password, and the pinned hostKey. The same reader serves
// `connector: ssh`, `ssh-tunnel` and the `sshTunnel*` keys of database services.
import type { FieldHint } from '../config/types.js';
import type { ResolvedCredentials } from '../credentials/types.js';
import { BrokerError } from '../errors.js';
import { parseHostKeyPolicy, type HostKeyPolicy } from './host-verify.js';
import { parsePrivateKey, SshKeyError, type SshPrivateKey } from './keys.js';

/** Credential key names for one SSH target. */
export interface SshCredentialNames {
  address: string;
  user: string;
  privateKey: string;
  passphrase: string;
  password: string;
  hostKey: string;
}

export const SSH_CREDENTIALS: SshCredentialNames = {
  address: 'address',
  user: 'user',
  privateKey: 'privateKey',
  passphrase: 'passphrase',
  password: 'password',
  hostKey: 'hostKey',
};

/** The bastion of a database service: the same keys, prefixed `sshTunnel`. */
export const SSH_TUNNEL_CREDENTIALS: SshCredentialNames = {
  address: 'sshTunnelAddress',
  user: 'sshTunnelUser',
  privateKey: 'sshTunnelPrivateKey',
  passphrase: 'sshTunnelPassphrase',
  password: 'sshTunnelPassword',
  hostKey: 'sshTunnelHostKey',
};

export interface SshTarget {
  host: string;
  port: number;
  /** host:port for messages and audit. */
  display: string;
  username: string;
  privateKey?: SshPrivateKey;
  password?: Buffer;
  /** 'insecure' only with the service's explicit insecureIgnoreHostKey. */
  hostKey: HostKeyPolicy | 'insecure';
}

/** Parses `host`, `host:port`, `[v6]:port`. */
export function parseAddress(value: string, defaultPort = 22): { host: string; port: number } | undefined {
  const text = value.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([^:\s]+)(?::(\d+))?$/.exec(text);
  const m = v6 ?? plain;
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

export function readSshTarget(
  creds: ResolvedCredentials,
  names: SshCredentialNames,
  opts: { service: string; insecureIgnoreHostKey: boolean },
): SshTarget {
  const bad = (message: string) => new BrokerError('config_invalid', `service '${opts.service}': ${message}`);
  const addressText = creds.text(names.address);
  if (!addressText) throw bad(`credential '${names.address}' is missing`);
  const address = parseAddress(addressText);
  if (!address) throw bad(`credential '${names.address}' is not host or host:port`);
  const username = creds.text(names.user);
  if (!username) throw bad(`credential '${names.user}' is missing`);
  const keyData = creds.values.get(names.privateKey);
  const password = creds.values.get(names.password);
  if (!keyData?.length && !password?.length) throw bad(`set '${names.privateKey}' or '${names.password}'`);
  let privateKey: SshPrivateKey | undefined;
  if (keyData?.length) {
    try {
      const passphrase = creds.values.get(names.passphrase);
      privateKey = parsePrivateKey(keyData, passphrase?.length ? passphrase : undefined, `credential '${names.privateKey}'`);
    } catch (err) {
      if (err instanceof SshKeyError) throw bad(err.message);
      throw err;
    }
  }
  let hostKey: SshTarget['hostKey'];
  const pinned = creds.text(names.hostKey);
  if (pinned) {
    const policy = parseHostKeyPolicy(pinned, `credential '${names.hostKey}'`);
    if (typeof policy === 'string') throw bad(policy);
    hostKey = policy;
  } else if (opts.insecureIgnoreHostKey) {
    hostKey = 'insecure';
  } else {
    throw bad(`credential '${names.hostKey}' is required (a known_hosts line or a SHA256:... fingerprint); insecureIgnoreHostKey: true skips the check`);
  }
  const display = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  return { ...address, display, username, privateKey, password: password?.length ? password : undefined, hostKey };
}

/** The editor's fields for the SSH server a service logs in to (the ssh target or a bastion). */
export function sshTargetHints(hostLabel: string): Record<string, FieldHint> {
  return {
    address: { label: hostLabel, placeholder: 'host.example.com:22', help: 'host:port of the SSH server' },
    user: { label: 'User' },
    privateKey: { label: 'Private key', secret: true, kind: 'multiline' },
    passphrase: { label: 'Key passphrase', secret: true },
    password: { label: 'Password', secret: true, help: 'when the server takes no key' },
    hostKey: { label: 'Host key', secret: false, placeholder: 'ssh-ed25519 AAAA…', help: "the server's public key, as in known_hosts" },
  };
}
