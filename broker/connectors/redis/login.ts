// The broker's own login to a Redis server, as pure logic in the one shape every
// protocol's auth mechanisms share: first() gives what to send, onReplies() takes the
// server's answers and gives the next step. The connector does the I/O.
//
//  1. `HELLO 2 AUTH user pass` (`HELLO 2` without a password) and, pipelined, `SELECT db`.
//     HELLO 2 keeps the connection in RESP2, the protocol of a client that never sends
//     HELLO; a client that wants RESP3 sends its own HELLO 3, which is forwarded (without
//     its AUTH), so the session's protocol is always the client's choice.
//  2. A server without HELLO (Redis < 6, or HELLO renamed away) answers "unknown
//     command": then `AUTH user pass`, or the legacy single-password `AUTH pass` when the
//     service has no username, and SELECT again.
import { BrokerError, type BrokerErrorCode } from '../../errors.js';
import { encodeCommand, replyFields, replyText, type RespValue } from './resp.js';

export interface LoginSettings {
  username?: string;
  password?: Buffer;
  db?: number;
}

export type LoginMethod = 'hello-auth' | 'hello' | 'auth' | 'auth-legacy' | 'none';

export type LoginStep =
  | { type: 'send'; bytes: Buffer; replies: number }
  | { type: 'done'; method: LoginMethod; aclUsers: boolean; serverVersion?: string };

export interface LoginDialogue {
  first(): LoginStep;
  /** The `replies` answers to the last `send`, in order. Throws a RedisLoginError when the login failed. */
  onReplies(replies: RespValue[]): LoginStep;
}

/** A login failure; `prefix` is the Redis error prefix to give the client when it is not the catalog's. */
export class RedisLoginError extends BrokerError {
  constructor(
    code: BrokerErrorCode,
    message: string,
    readonly prefix?: string,
  ) {
    super(code, message);
  }
}

const errorPrefix = (line: string): string => /^[A-Z]+/.exec(line)?.[0] ?? 'ERR';

export function createLoginDialogue(settings: LoginSettings, names: { service: string; target: string }): LoginDialogue {
  const { username, password, db } = settings;
  const who = `service '${names.service}'`;
  const select = db ? [encodeCommand(['SELECT', String(db)])] : [];
  let phase: 'hello' | 'auth' = 'hello';

  const send = (commands: Buffer[]): LoginStep => ({ type: 'send', bytes: Buffer.concat(commands), replies: commands.length });

  const rejected = (line: string): RedisLoginError => {
    if (/^NOAUTH/.test(line) && !password)
      return new RedisLoginError('target_rejected_credentials', `${who}: the target ${names.target} requires a password and the service has none (${line})`, 'NOAUTH');
    return new RedisLoginError('target_rejected_credentials', `${who}: the target ${names.target} rejected the broker's credentials${username ? ` for user ${username}` : ''}: ${line}`);
  };

  const checkSelect = (reply: RespValue | undefined): void => {
    if (reply?.type === 'error')
      throw new RedisLoginError('target_error', `${who}: the target ${names.target} refused SELECT ${db}: ${reply.value}`, errorPrefix(reply.value));
  };

  return {
    first() {
      const hello = password ? ['HELLO', '2', 'AUTH', username ?? 'default', password] : ['HELLO', '2'];
      return send([encodeCommand(hello), ...select]);
    },
    onReplies([reply, selectReply]) {
      if (!reply) throw new RedisLoginError('target_protocol_error', `${who}: the target ${names.target} did not answer the login`);
      if (phase === 'hello') {
        if (reply.type === 'error') {
          if (/^ERR unknown command/i.test(reply.value)) {
            phase = 'auth';
            if (!password) {
              checkSelect(selectReply); // no login needed: the pipelined SELECT ran
              return { type: 'done', method: 'none', aclUsers: false };
            }
            return send([encodeCommand(username ? ['AUTH', username, password] : ['AUTH', password]), ...select]);
          }
          if (/^(WRONGPASS|NOAUTH)/.test(reply.value)) throw rejected(reply.value);
          throw new RedisLoginError('target_error', `${who}: the target ${names.target} refused the login: ${reply.value}`, errorPrefix(reply.value));
        }
        checkSelect(selectReply);
        const version = replyFields(reply).get('version');
        return { type: 'done', method: password ? 'hello-auth' : 'hello', aclUsers: true, serverVersion: version ? replyText(version) : undefined };
      }
      if (reply.type === 'error') {
        if (/^(WRONGPASS|NOAUTH|ERR invalid (username-)?password)/.test(reply.value)) throw rejected(reply.value);
        if (username && /wrong number of arguments/i.test(reply.value))
          throw new RedisLoginError('unsupported_auth', `${who}: the target ${names.target} is older than Redis 6 and has no ACL users; remove the service's username`);
        throw new RedisLoginError('target_error', `${who}: the target ${names.target} refused the login: ${reply.value}`, errorPrefix(reply.value));
      }
      checkSelect(selectReply);
      return { type: 'done', method: username ? 'auth' : 'auth-legacy', aclUsers: !!username };
    },
  };
}
