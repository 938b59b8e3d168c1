// The interception rule, pure: what the broker sends the server in place of a client's
// AUTH or HELLO. Nothing else is ever changed (see the README's Redis section).
//
// Every answer comes from the server, in order, so a pipelined or MULTI-queued AUTH gets
// its reply (+OK, or +QUEUED then +OK inside EXEC) exactly where the client expects it:
//  - `AUTH password`, or `AUTH user password` naming the broker's own user: the server
//    gets the broker's AUTH instead (it needs no ACL permission and changes nothing);
//  - `AUTH other password`: refused. The server gets a command named after the reason,
//    so its "unknown command" error tells the client the connection stays the broker's
//    user (inside MULTI that error discards the transaction);
//  - AUTH with a wrong number of arguments: a bare AUTH (the server's arity error);
//  - `HELLO [ver] [AUTH user pass] [SETNAME name]`: the AUTH part is removed (refused
//    as above if it names another user), the rest goes as it is, so the reply and the
//    session's protocol are what the client asked for.
import { encodeCommand } from './resp.js';

export interface BrokerLogin {
  /** The ACL user the broker logged in as (undefined: the default user). */
  username?: string;
  password?: Buffer;
  /** The server knows ACL users (Redis 6+): AUTH takes a user name. */
  aclUsers: boolean;
}

export type Interception =
  | { type: 'forward' }
  | { type: 'replace'; bytes: Buffer; record?: InterceptionRecord };

/** What the audit log records (never a password). */
export interface InterceptionRecord {
  command: 'AUTH' | 'HELLO';
  action: 'answered' | 'refused' | 'invalid';
  requestedUser?: string;
}

const text = (b: Buffer): string => b.toString('utf8');

/** User names in the refusal are shown to the client; keep them printable and short. */
const printable = (s: string): string => s.replace(/[^\x21-\x7e]/g, '?').slice(0, 40);

export function effectiveUser(login: BrokerLogin): string {
  return login.username ?? 'default';
}

function brokerAuth(login: BrokerLogin): Buffer {
  const password = login.password ?? Buffer.alloc(0);
  return login.aclUsers ? encodeCommand(['AUTH', effectiveUser(login), password]) : encodeCommand(['AUTH', password]);
}

export function refusal(requested: string, login: BrokerLogin): Buffer {
  return encodeCommand([`secretless-broker: AUTH as ${printable(requested)} refused, this connection stays user ${printable(effectiveUser(login))}`]);
}

export function intercept(args: Buffer[], login: BrokerLogin): Interception {
  const name = text(args[0]!).toUpperCase();
  if (name === 'AUTH') {
    if (args.length === 2) return { type: 'replace', bytes: brokerAuth(login), record: { command: 'AUTH', action: 'answered' } };
    if (args.length === 3) {
      const requestedUser = text(args[1]!);
      if (requestedUser === effectiveUser(login)) return { type: 'replace', bytes: brokerAuth(login), record: { command: 'AUTH', action: 'answered', requestedUser } };
      return { type: 'replace', bytes: refusal(requestedUser, login), record: { command: 'AUTH', action: 'refused', requestedUser } };
    }
    return { type: 'replace', bytes: encodeCommand(['AUTH']), record: { command: 'AUTH', action: 'invalid' } };
  }
  // HELLO [protover [AUTH username password] [SETNAME clientname]], walked as the server does.
  const kept: Buffer[] = args.slice(0, 2);
  let requestedUser: string | undefined;
  let bad: Buffer | undefined;
  for (let j = 2; j < args.length; j++) {
    const opt = text(args[j]!).toUpperCase();
    const more = args.length - 1 - j;
    if (opt === 'AUTH' && more >= 2) {
      const user = text(args[j + 1]!);
      if (user !== effectiveUser(login)) return { type: 'replace', bytes: refusal(user, login), record: { command: 'HELLO', action: 'refused', requestedUser: user } };
      requestedUser = user;
      j += 2;
    } else if (opt === 'SETNAME' && more >= 1) {
      kept.push(args[j]!, args[j + 1]!);
      j++;
    } else {
      // The server stops at the first bad option with "Syntax error in HELLO option";
      // what follows it (perhaps an AUTH) is not sent.
      bad = args[j]!;
      break;
    }
  }
  if (requestedUser === undefined && bad === undefined) return { type: 'forward' };
  const bytes = encodeCommand(bad ? [...kept, bad] : kept);
  return requestedUser === undefined ? { type: 'replace', bytes } : { type: 'replace', bytes, record: { command: 'HELLO', action: 'answered', requestedUser } };
}
