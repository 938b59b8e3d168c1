// One request through an http service: find the target, fetch the credentials (cached
// for the client connection until they expire), strip the client's credentials and add
// the broker's, send it through the pooled dispatcher with both bodies streaming, and
// map the answer back. One audit record per request, without header values or query.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import type { AuditEvent } from '../../audit/types.js';
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError, type BrokerErrorCode } from '../../errors.js';
import type { ConnectionContext } from '../types.js';
import type { AuthMechanism, OutgoingRequest } from './auth.js';
import { auditPath, clientHeaders, mapLocationForward, mapLocationReverse, resolveTarget, upstreamHeaders } from './request-head.js';
import { errorBody, sendError, writeRawError } from './respond.js';
import type { HttpConfig } from './settings.js';
import { upstreamError, type UpstreamPool } from './upstream-pool.js';

type RequestRecord = Omit<Extract<AuditEvent, { type: 'http.request' }>, 'type' | 'service' | 'connectionId' | 'bytesIn' | 'bytesOut' | 'durationMs'> &
  Partial<Pick<Extract<AuditEvent, { type: 'http.request' }>, 'bytesIn' | 'bytesOut' | 'durationMs'>>;

export interface RequestContext {
  ctx: ConnectionContext;
  settings: HttpConfig;
  mechanism: AuthMechanism;
  pool: UpstreamPool;
  credentials: CredentialCache;
  /** The broker's origin for this service (Location mapping when the client sent no Host). */
  local: string;
  record(r: RequestRecord): void;
  /** Bytes the native HTTP lane moved to and from the client (added to the socket's counters). */
  moved: { fromClient: number; toClient: number };
}

export interface CredentialCache {
  get(): Promise<ResolvedCredentials>;
  /** The target refused them: the next request fetches afresh. */
  drop(): void;
  /** How long the resolved credentials stay in use (Infinity: until dropped); undefined while none are resolved. */
  remainingMs(): number | undefined;
}

/** Reused while valid: a provider call per request would cost a keychain or Vault round trip each. */
const REFRESH_BEFORE_EXPIRY_MS = 30_000;

export function createCredentialCache(ctx: ConnectionContext, settings: HttpConfig): CredentialCache {
  let current: { creds: Promise<ResolvedCredentials>; until: number; resolved?: boolean } | undefined;
  return {
    get() {
      if (current && Date.now() < current.until) return current.creds;
      const creds = ctx.resolveCredentials().then((c) => {
        for (const [key, re] of settings.validations) {
          const v = c.text(key);
          // Secretless credentialValidations: the value is never shown, only the key.
          if (v === undefined || !re.test(v)) throw new BrokerError('provider_failed', `credential '${key}' does not match its credentialValidations pattern`);
        }
        if (current?.creds === creds) {
          current.until = c.expiresAt ? c.expiresAt.getTime() - REFRESH_BEFORE_EXPIRY_MS : Infinity;
          current.resolved = true;
        }
        return c;
      });
      current = { creds, until: Infinity };
      creds.catch(() => {
        if (current?.creds === creds) current = undefined;
      });
      return creds;
    },
    drop: () => void (current = undefined),
    remainingMs: () => (current?.resolved ? current.until - Date.now() : undefined),
  };
}

interface Prepared {
  url: URL;
  out: OutgoingRequest;
  body: Readable | Buffer | undefined;
  dispatcher: Dispatcher;
}

/** Target, credentials and the outgoing head; throws a BrokerError with the status to answer. */
async function prepare(req: IncomingMessage, rc: RequestContext, refuse: (status: number, err: BrokerError) => never): Promise<Prepared> {
  const target = resolveTarget(rc.settings.mode, req.url ?? '/');
  if (target.type === 'refused') refuse(target.status, new BrokerError(target.status === 403 ? 'command_refused' : 'protocol_violation', target.message));
  const url = target.url;
  const creds = await rc.credentials.get();
  const clientAuthorization = req.headers.authorization;
  const out: OutgoingRequest = { method: req.method ?? 'GET', url, headers: upstreamHeaders(req.rawHeaders, url, rc.mechanism.headerNames) };
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  let body: Readable | Buffer | undefined = hasBody ? req : undefined;
  let payloadHash: string | undefined;
  const plan = rc.mechanism.bodyPlan(out, clientAuthorization);
  if (plan.type === 'hash') {
    const buffered = hasBody ? await readCapped(req, plan.maxBytes, refuse) : Buffer.alloc(0);
    payloadHash = createHash('sha256').update(buffered).digest('hex');
    body = hasBody ? buffered : undefined;
    if (hasBody) out.headers['content-length'] = String(buffered.length);
  }
  const clientPayloadHash = req.headers['x-amz-content-sha256'];
  await rc.mechanism.apply(out, creds, {
    ...(clientAuthorization ? { clientAuthorization } : {}),
    ...(payloadHash ? { payloadHash } : {}),
    ...(typeof clientPayloadHash === 'string' ? { clientPayloadHash } : {}),
  });
  return { url, out, body, dispatcher: await rc.pool.dispatcher(creds) };
}

async function readCapped(req: IncomingMessage, max: number, refuse: (status: number, err: BrokerError) => never): Promise<Buffer> {
  const tooLarge = () => refuse(413, new BrokerError('packet_too_large', `the request body is larger than ${max} bytes, the most this service signs (maxSignedBodyBytes); AWS SigV4 needs the whole body's hash for this service`));
  if (Number(req.headers['content-length'] ?? 0) > max) tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: BrokerError,
  ) {
    super(error.message);
  }
}
const refuse = (status: number, err: BrokerError): never => {
  throw new Refusal(status, err);
};

export async function proxyRequest(req: IncomingMessage, res: ServerResponse, rc: RequestContext): Promise<void> {
  const started = performance.now();
  const counted = { in: 0, out: 0 };
  const method = req.method ?? 'GET';
  const path = auditPath(req.url ?? '');
  let host = rc.settings.mode.type === 'reverse' ? rc.settings.mode.upstream.host : '';
  let outcome: 'ok' | BrokerErrorCode = 'ok';
  res.once('close', () =>
    rc.record({
      method,
      host,
      path,
      status: res.statusCode,
      outcome,
      bytesIn: counted.in,
      bytesOut: counted.out,
      durationMs: Math.round(performance.now() - started),
    }),
  );
  try {
    const p = await prepare(req, rc, refuse);
    host = p.url.host;
    const answer = await p.dispatcher.request({
      origin: p.url.origin,
      path: p.url.pathname + p.url.search,
      method: method as Dispatcher.HttpMethod,
      headers: p.out.headers,
      // undici takes async iterables too (its types list only Readable).
      body: p.body === req ? (countBody(req, counted) as unknown as Readable) : (p.body ?? null),
      // No per-request AbortSignal (it costs ~6% CPU per request in undici): stopping the
      // service destroys the client socket, which ends `res` and the pipeline, and that aborts this request.
    });
    if (Buffer.isBuffer(p.body)) counted.in = p.body.length;
    if (answer.statusCode === 401 || answer.statusCode === 403) {
      outcome = 'target_rejected_credentials';
      rc.credentials.drop();
    }
    const mapLocation = locationMapper(req, rc, p.url);
    res.writeHead(answer.statusCode, clientHeaders(answer.headers, mapLocation));
    const piped = pipeline(answer.body, res);
    answer.body.on('data', (chunk: Buffer) => void (counted.out += chunk.length));
    await piped;
  } catch (err) {
    if (err instanceof Refusal) {
      outcome = err.error.code;
      // A refused request's unread body would be taken for the next request: close after answering.
      sendError(res, errorBody(err.error, err.status), req.headers.accept, req.complete ? {} : { connection: 'close' });
      return;
    }
    if (req.socket.destroyed && res.headersSent) {
      // The client went away mid-answer (a cancelled download): not the upstream's failure.
      rc.ctx.logger.debug('http client closed the connection during the answer', { status: res.statusCode });
      return;
    }
    const e = upstreamError(err, host || 'the upstream');
    if (outcome === 'ok') outcome = e.code;
    if (e.code === 'internal') rc.ctx.logger.error('http request failed', { reason: (err as Error)?.message ?? String(err) });
    else rc.ctx.logger.info('http request failed', { code: e.code, reason: e.message });
    sendError(res, errorBody(e), req.headers.accept);
  }
}

/** The request body as undici reads it, counted for audit (undici pulls, so backpressure holds). */
async function* countBody(req: IncomingMessage, counted: { in: number }): AsyncGenerator<Buffer> {
  for await (const chunk of req) {
    counted.in += (chunk as Buffer).length;
    yield chunk as Buffer;
  }
}

function locationMapper(req: IncomingMessage, rc: RequestContext, url: URL): (value: string) => string {
  const mode = rc.settings.mode;
  if (mode.type === 'reverse') {
    const local = req.headers.host ? `http://${req.headers.host}` : rc.local;
    return (v) => mapLocationReverse(v, mode.upstream, local);
  }
  const requested = new URL(req.url ?? '/', url);
  return (v) => mapLocationForward(v, requested, mode.forceSSL);
}

/** A WebSocket (or other) upgrade: authenticated like a request, then the two sockets are piped. */
export async function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, rc: RequestContext): Promise<void> {
  const started = performance.now();
  const method = req.method ?? 'GET';
  let host = rc.settings.mode.type === 'reverse' ? rc.settings.mode.upstream.host : '';
  const record = (status: number, outcome: 'ok' | BrokerErrorCode) => rc.record({ method, host, path: auditPath(req.url ?? ''), status, outcome, durationMs: Math.round(performance.now() - started) });
  client.on('error', () => client.destroy());
  try {
    const p = await prepare(req, rc, refuse);
    host = p.url.host;
    const protocol = req.headers.upgrade ?? 'websocket';
    const { headers, socket: upstream } = await p.dispatcher.upgrade({
      origin: p.url.origin,
      path: p.url.pathname + p.url.search,
      method,
      headers: p.out.headers,
      protocol,
      signal: rc.ctx.signal,
    } as Dispatcher.UpgradeOptions);
    const lines = ['HTTP/1.1 101 Switching Protocols', 'connection: Upgrade', `upgrade: ${protocol}`];
    for (const [name, value] of Object.entries(clientHeaders(headers, (v) => v))) {
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
    }
    client.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    record(101, 'ok');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  } catch (err) {
    const e = err instanceof Refusal ? err.error : upstreamError(err, host || 'the upstream');
    const status = err instanceof Refusal ? err.status : e.entry.httpStatus;
    record(status, e.code);
    rc.ctx.logger.info('http upgrade failed', { code: e.code, reason: e.message });
    writeRawError(client, errorBody(e, status), req.headers.accept);
  }
}
