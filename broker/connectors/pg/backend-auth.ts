// The backend half of the handshake, as an explicit state machine: send the startup
// message, answer the authentication requests with the broker's credentials, then
// collect ParameterStatus/BackendKeyData up to the first ReadyForQuery.
import type { TLSSocket } from 'node:tls';
import { BrokerError, REJECTED_CREDENTIALS_HINT } from '../../errors.js';
import type { SocketReader } from '../../net/socket-reader.js';
import { tlsServerEndPoint } from '../../tls/channel-binding.js';
import { cleartextPasswordResponse } from './auth-cleartext.js';
import { md5PasswordResponse } from './auth-md5.js';
import { createScramClient, ScramError, type ScramClient } from './auth-scram.js';
import {
  decodeAuthRequest,
  decodeBackendKeyData,
  decodeErrorFields,
  encodePasswordMessage,
  encodeSaslInitialResponse,
  encodeSaslResponse,
  parseMessage,
  type PgMessage,
} from './codec.js';

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
  let scram: ScramClient | undefined;
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
        method = 'password';
        if (!ctx.tlsSocket) ctx.warn('target asked for a cleartext password over an unencrypted link');
        ctx.write(encodePasswordMessage(cleartextPasswordResponse(needPassword(ctx, 'password'))));
        break;
      case 'md5':
        method = 'md5';
        ctx.write(encodePasswordMessage(md5PasswordResponse(ctx.username, needPassword(ctx, 'md5'), req.salt)));
        break;
      case 'sasl': {
        const binding = ctx.tlsSocket ? tlsServerEndPoint(ctx.tlsSocket.getPeerCertificate().raw) : undefined;
        const plus = binding && req.mechanisms.includes('SCRAM-SHA-256-PLUS');
        if (!plus && !req.mechanisms.includes('SCRAM-SHA-256'))
          throw new BrokerError('unsupported_auth', `the target offered SASL mechanisms ${req.mechanisms.join(', ')}; the broker supports SCRAM-SHA-256(-PLUS)`);
        scram = createScramClient({
          password: needPassword(ctx, 'SCRAM-SHA-256'),
          channelBinding: plus ? binding : undefined,
          bindingSupported: !!binding,
        });
        method = scram.mechanism.toLowerCase();
        ctx.write(encodeSaslInitialResponse(scram.mechanism, scram.clientFirst()));
        break;
      }
      case 'sasl-continue':
        if (!scram) throw new BrokerError('target_protocol_error', 'SASL continue without a SASL exchange');
        ctx.write(encodeSaslResponse(await scramStep(() => scram!.clientFinal(req.data))));
        break;
      case 'sasl-final':
        if (!scram) throw new BrokerError('target_protocol_error', 'SASL final without a SASL exchange');
        await scramStep(async () => scram!.verifyServerFinal(req.data));
        break;
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

async function scramStep<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScramError) throw new BrokerError('target_protocol_error', err.message);
    throw err;
  }
}
