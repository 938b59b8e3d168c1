// Same user only (on by default): a TCP client is served only when its socket belongs to
// the OS user the broker runs as, or to a user the service shares with (`allowUsers`),
// or when the service is open to anyone (`allowAnyUser: true`). Unix sockets are 0600,
// so the kernel already refuses other users at connect(); their owner is checked here
// only when known anyway (`--peer-lookup`), since Node exposes no SO_PEERCRED and the
// lookup costs a process spawn. Root is no exception: a broker run by alice refuses root.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import type { ClientInfo } from '../audit/types.js';
import type { ServiceConfig } from '../config/types.js';
import { BrokerError } from '../errors.js';
import type { AccessCheck } from './gate.js';
import { platformSocketOwner } from './platform.js';
import { tcpEnds, type SocketOwner, type SocketOwnerLookup, type TcpEnds } from './socket-owner.js';

/** A user as the platform names it: a uid (POSIX) or SID (Windows), and the login name. */
export interface OsUser {
  uid: number | string;
  name?: string;
}

export interface AccessPolicy {
  /** Users besides the broker's own who may connect: uids or login names. */
  allowUsers?: readonly (number | string)[];
  /** Anyone who can reach the listener may connect (the owner check is skipped). */
  allowAnyUser?: boolean;
}

export type SameUserDecision = { allowed: true } | { allowed: false; message: string };

/**
 * The decision, given who owns the client's socket. Names compare as the platform does
 * (case-insensitively on Windows, where `DOMAIN\user` also matches `user`).
 */
export function decideSameUser(policy: AccessPolicy, self: OsUser, owner: SocketOwner, platform: NodeJS.Platform = process.platform): SameUserDecision {
  if (policy.allowAnyUser) return { allowed: true };
  if (owner.type === 'user') {
    if (owner.uid === self.uid) return { allowed: true };
    if ((policy.allowUsers ?? []).some((u) => sameUser(u, owner, platform))) return { allowed: true };
  }
  return { allowed: false, message: refusalMessage(policy, self) };
}

function sameUser(entry: number | string, owner: OsUser, platform: NodeJS.Platform): boolean {
  if (typeof entry === 'number' || /^\d+$/.test(entry)) return String(entry) === String(owner.uid);
  if (entry === owner.uid) return true; // a SID
  if (!owner.name) return false;
  if (platform !== 'win32') return entry === owner.name;
  const bare = (n: string) => n.replace(/^.*\\/, '').toLowerCase();
  return entry.toLowerCase() === owner.name.toLowerCase() || (!entry.includes('\\') && bare(owner.name) === entry.toLowerCase());
}

/** What the refused client reads: who the broker serves (names only, no addresses). */
export function refusalMessage(policy: AccessPolicy, self: OsUser): string {
  const others = (policy.allowUsers ?? []).map((u) => (typeof u === 'number' || /^\d+$/.test(u) ? `uid ${u}` : `'${u}'`));
  const also = others.length ? ` and, for this service, ${others.join(', ')}` : '';
  return `connection refused: the broker serves only user '${self.name ?? self.uid}'${also}`;
}

export interface SameUserOptions {
  /** The socket-owner lookup (default: this platform's). */
  lookup?: SocketOwnerLookup;
  /** The broker's own user (default: the process's). */
  self?: () => Promise<OsUser>;
  /** A user's login name, for the audit and for allowUsers names (default: `id -nu UID`). */
  nameOf?: (uid: number | string) => Promise<string | undefined>;
}

/** The same-user check for connection.ts, with the broker's user and the names it learns cached. */
export function sameUserCheck(options: SameUserOptions = {}): AccessCheck {
  const lookup = options.lookup ?? platformSocketOwner();
  let self: Promise<OsUser> | undefined;
  let selfKnown: OsUser | undefined; // once learnt, without an await per connection
  const selfUser = () => (self ??= (options.self ?? processUser)().then((u) => (selfKnown = u)));
  const names = new Map<string, Promise<string | undefined>>();
  const nameOf = (uid: number | string) => {
    let name = names.get(String(uid));
    if (!name) names.set(String(uid), (name = (options.nameOf ?? posixName)(uid).catch(() => undefined)));
    return name;
  };

  return async ({ socket, client, service, signal }) => {
    const policy: AccessPolicy = service; // its allowUsers and allowAnyUser
    const me = selfKnown ?? (await selfUser());
    let owner: SocketOwner;
    if (client.transport === 'unix') {
      // 0600 is the guard; a uid found by --peer-lookup is checked as well.
      if (client.uid === undefined) return client;
      owner = { type: 'user', uid: client.uid };
    } else {
      if (policy.allowAnyUser) return client;
      const ends = tcpEnds(socket);
      owner = ends && lookup ? await ownerOf(lookup, ends, signal) : { type: 'unknown', reason: `no socket-owner lookup on ${process.platform}` };
    }
    const known: ClientInfo = owner.type === 'user' ? { ...client, uid: owner.uid, user: owner.uid === me.uid ? me.name : (owner.name ?? (await nameOf(owner.uid))) } : client;
    const decision = decideSameUser(policy, me, owner.type === 'user' ? { ...owner, name: known.user } : owner);
    if (decision.allowed) return known;
    const who = owner.type === 'user' ? `user '${known.user ?? '?'}' (uid ${owner.uid})` : `an unknown user (${owner.reason})`;
    throw new PeerNotAllowed(decision.message, known, `${decision.message}; the client is ${who}`);
  };
}

async function ownerOf(lookup: SocketOwnerLookup, ends: TcpEnds, signal: AbortSignal): Promise<SocketOwner> {
  try {
    return await lookup(ends, signal);
  } catch (err) {
    return { type: 'unknown', reason: `the owner lookup failed: ${(err as Error).message}` };
  }
}

/** A refusal: the client's message, plus who it was for the audit and the log. */
export class PeerNotAllowed extends BrokerError {
  constructor(
    message: string,
    readonly client: ClientInfo,
    readonly detail: string,
  ) {
    super('peer_not_allowed', message);
  }
}

const run = promisify(execFile);

async function processUser(): Promise<OsUser> {
  if (process.platform === 'win32') {
    // "DOMAIN\user","S-1-5-21-…"
    const { stdout } = await run('whoami', ['/user', '/fo', 'csv', '/nh'], { windowsHide: true });
    const [name, sid] = stdout.trim().split(',').map((f) => f.replace(/^"|"$/g, ''));
    return { uid: sid!, name: name! };
  }
  return { uid: process.getuid!(), name: os.userInfo().username };
}

async function posixName(uid: number | string): Promise<string | undefined> {
  if (typeof uid !== 'number') return undefined;
  const { stdout } = await run('id', ['-nu', String(uid)], { timeout: 5_000 });
  return stdout.trim() || undefined;
}
