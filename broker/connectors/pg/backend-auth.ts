// The backend half of the handshake: answer the authentication requests with the
// broker's credentials (each method its own file behind auth-mechanisms.ts), then
// collect ParameterStatus/BackendKeyData up to the first ReadyForQuery.
import type { TLSSocket } from 'node:tls';
import { BrokerError, REJECTED_CREDENTIALS_HINT } from '../../errors.js';
import type { SocketReader } from '../../net/socket-reader.js';
import type { PgAuthExchange, PgAuthInput } from './auth-mechanism.js';
import { startMechanism } from './auth-mechanisms.js';
import { decodeAuthRequest, decodeBackendKeyData, decodeErrorFields, parseMessage, type PgMessage } from './codec.js';

/** A backend ErrorResponse that is relayed to the client unchanged (e.g. unknown database). */
export class BackendErrorResponse extends BrokerError {
  constructor(
    readonly raw: Buffer,
    readonly sqlState: string,
    message: string,
  ) {
    super('target_error', message);
  }
}

export interface BackendAuthInput {
  reader: SocketReader;
  write: (buf: Buffer) => void;
  service: string;
  username: string;
  password?: Buffer;
  /** The TLS socket when the backend link is encrypted (for channel binding). */
  tlsSocket?: TLSSocket;
  warn: (msg: string) => void;
}

export interface BackendAuthResult {
  authMethod: string;
  /** ParameterStatus, BackendKeyData, NoticeResponse and the ReadyForQuery, as received. */
  replay: Buffer[];
  keyData?: { pid: number; secret: Buffer };
}

const rejectedStates = new Set(['28P01', '28000']);

function backendError(msg: PgMessage, ctx: BackendAuthInput): BrokerError {
  const fields = decodeErrorFields(msg.body);
  const state = fields.get('C') ?? 'XX000';
  const text = fields.get('M') ?? 'unknown error';
  if (rejectedStates.has(state))
    return new BrokerError(
      'target_rejected_credentials',
      `the target rejected the broker's configured credentials for service '${ctx.service}' (user '${ctx.username}'): ${text}; ${REJECTED_CREDENTIALS_HINT}`,
    );
  return new BackendErrorResponse(Buffer.from(msg.raw), state, text);
}

function needPassword(ctx: BackendAuthInput, method: string): Buffer {
  if (ctx.password && ctx.password.length > 0) return ctx.password;
  throw new BrokerError(
    'target_rejected_credentials',
    `the target asked for ${method} authentication but service '${ctx.service}' has no password credential`,
  );
}

async function next(ctx: BackendAuthInput): Promise<PgMessage> {
  const msg = await ctx.reader.read((b) => parseMessage(b));
  return msg;
}

export async function authenticateBackend(ctx: BackendAuthInput): Promise<BackendAuthResult> {
  let method = 'trust';
  let exchange: PgAuthExchange | undefined;
  const input: PgAuthInput = { username: ctx.username, password: (m) => needPassword(ctx, m), tlsSocket: ctx.tlsSocket, warn: ctx.warn };
  const replay: Buffer[] = [];
  // Phase 1: authentication requests until AuthenticationOk.
  for (;;) {
    const msg = await next(ctx);
    if (msg.type === 'E') throw backendError(msg, ctx);
    if (msg.type === 'v') {
      replay.push(Buffer.from(msg.raw)); // NegotiateProtocolVersion: the client must see it too
      continue;
    }
    if (msg.type !== 'R') throw new BrokerError('target_protocol_error', `unexpected message '${msg.type}' from the target during authentication`);
    const req = decodeAuthRequest(msg.body);
    if (req.type === 'ok') break;
    switch (req.type) {
      case 'cleartext':
      case 'md5':
      case 'sasl':
        exchange = startMechanism(req, input);
        method = exchange.method;
        ctx.write(exchange.first);
        break;
      case 'sasl-continue':
      case 'sasl-final': {
        if (!exchange?.onMessage) throw new BrokerError('target_protocol_error', `SASL ${req.type === 'sasl-final' ? 'final' : 'continue'} without a SASL exchange`);
        const answer = await exchange.onMessage(req);
        if (answer) ctx.write(answer);
        break;
      }
      case 'unsupported':
        throw new BrokerError(
          'unsupported_auth',
          `the target asked for ${req.name} authentication, which the broker does not support (it supports trust, password, md5, SCRAM-SHA-256 and client certificates)`,
        );
    }
  }
  if (ctx.tlsSocket && method === 'trust' && hasClientCert(ctx.tlsSocket)) method = 'cert';
  // Phase 2: session parameters up to the first ReadyForQuery.
  let keyData: BackendAuthResult['keyData'];
  for (;;) {
    const msg = await next(ctx);
    if (msg.type === 'E') throw backendError(msg, ctx);
    replay.push(Buffer.from(msg.raw));
    if (msg.type === 'K') keyData = decodeBackendKeyData(msg.body);
    else if (msg.type === 'Z') return { authMethod: method, replay, keyData };
    else if (msg.type !== 'S' && msg.type !== 'N')
      throw new BrokerError('target_protocol_error', `unexpected message '${msg.type}' from the target after authentication`);
  }
}

function hasClientCert(socket: TLSSocket): boolean {
  const cert = socket.getCertificate();
  return !!cert && Object.keys(cert).length > 0;
}
