// The local control API: BrokerApi as JSON over HTTP plus a server-sent-events stream,
// and the built renderer, on 127.0.0.1 only.
//
// Who may talk to it:
// - Every request must name this server in Host (127.0.0.1, localhost or [::1] with our
//   port): a DNS-rebinding page reaches us under its own host name and is refused.
// - A request carrying an Origin must come from our own origin: cross-site pages are
//   refused before anything runs (and no CORS headers are ever sent).
// - /api/* needs `Authorization: Bearer <token>`: a random 256-bit token made at start
//   and handed to the user once, in the page URL's fragment (never sent to a server).
// Static files need Host/Origin but no token: they are the public renderer build.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { BrokerApi, BrokerEvent } from '../api.js';
import { ApiError } from '../api-error.js';
import type { Logger } from '../log.js';
import { isCallMethod, validateArgs } from './validate.js';
import { CodedError } from '../errors.js';

export interface ControlServerOptions {
  api: BrokerApi;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The built renderer (index.html and assets); omitted: the API only. */
  staticDir?: string;
  /** Fixed token (tests); default 32 random bytes, base64url. */
  token?: string;
  logger?: Logger;
  /** SSE keep-alive comment interval. */
  heartbeatMs?: number;
  /** POST /api/rotate-token: makes and keeps a new token; the old one stops working at once. */
  rotateToken?: () => string;
}

export interface ControlServer {
  /** http://127.0.0.1:PORT (no token). */
  readonly url: string;
  readonly port: number;
  /** The current token (it changes when rotated). */
  readonly token: string;
  /** The URL to open: the token rides in the fragment, which browsers never send. */
  readonly pageUrl: string;
  close(): Promise<void>;
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const MAX_BODY = 1024 * 1024;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  let token = options.token ?? randomBytes(32).toString('base64url');
  let tokenBytes = Buffer.from(`Bearer ${token}`);
  const streams = new Set<ServerResponse>();
  let port = 0;
  let url = '';
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      options.logger?.error('control API request failed', { path: pathOf(req), reason: (err as Error).message });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(host)) return send(res, 403, { error: 'forbidden: Host is not this loopback server' });
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) return send(res, 403, { error: 'forbidden: cross-origin request' });
    if (req.headers['sec-fetch-site'] === 'cross-site') return send(res, 403, { error: 'forbidden: cross-site request' });

    const path = pathOf(req);
    if (path.startsWith('/api/')) {
      if (!authorized(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return send(res, 401, {
          error: "unauthorized: this page's access token is not valid (it was replaced with `secretless-desktop open --new-token`, or this is another broker); open the URL `secretless-desktop open` prints",
          code: 'unauthorized',
        });
      }
      if (path === '/api/rotate-token' && options.rotateToken) {
        if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
        token = options.rotateToken();
        tokenBytes = Buffer.from(`Bearer ${token}`);
        // Streams opened with the old token end; their pages must come back with the new URL.
        for (const s of streams) s.end();
        return send(res, 200, { result: { pageUrl: `${url}/#token=${token}` } });
      }
      if (path === '/api/events') {
        if (req.method !== 'GET') return send(res, 405, { error: 'use GET' });
        return events(res);
      }
      const call = /^\/api\/call\/([A-Za-z]+)$/.exec(path);
      if (!call || !isCallMethod(call[1]!)) return send(res, 404, { error: 'no such API method' });
      if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return send(res, 415, { error: 'the body must be application/json' });
      return callMethod(call[1]!, req, res);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    return serveStatic(path, res);
  }

  function authorized(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === tokenBytes.length && timingSafeEqual(given, tokenBytes);
  }

  async function callMethod(method: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req)) || '{}');
    } catch (err) {
      if (err instanceof BodyTooLarge) return refuseBody(req, res);
      return send(res, 400, { error: 'the body is not JSON' });
    }
    try {
      const args = validateArgs(method, (body as { args?: unknown })?.args ?? []);
      const fn = (options.api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
      const result = await fn.apply(options.api, args);
      send(res, 200, { result: result ?? null });
    } catch (err) {
      // The catalog says which status a coded error is (config_invalid and invalid_input: 400).
      const status = err instanceof ApiError ? err.status : err instanceof CodedError ? err.entry.httpStatus : 500;
      if (status >= 500) options.logger?.warn('control API call failed', { method, reason: (err as Error).message });
      send(res, status, err instanceof ApiError ? err.body() : { error: (err as Error).message, code: status === 400 ? 'invalid_input' : 'internal' });
    }
  }

  function events(res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.write(': connected\n\n');
    streams.add(res);
    const off = options.api.subscribe((event: BrokerEvent) => {
      res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const beat = setInterval(() => res.write(': ping\n\n'), options.heartbeatMs ?? 15_000);
    const done = (): void => {
      clearInterval(beat);
      off();
      streams.delete(res);
    };
    res.on('close', done);
  }

  async function serveStatic(path: string, res: ServerResponse): Promise<void> {
    if (!options.staticDir) return send(res, 404, { error: 'not found' });
    let rel: string;
    try {
      rel = path === '/' ? 'index.html' : decodeURIComponent(path).slice(1);
    } catch {
      return send(res, 404, { error: 'not found' });
    }
    const file = normalize(join(options.staticDir, rel));
    if (!file.startsWith(normalize(options.staticDir) + sep) || rel.includes('\0')) return send(res, 404, { error: 'not found' });
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      if (rel === 'index.html') return send(res, 503, { error: 'the UI is not built (npm test or npx vite build renderer)' });
      return send(res, 404, { error: 'not found' });
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': rel === 'index.html' ? 'no-store' : 'max-age=3600',
    });
    createReadStream(file).pipe(res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    get token() {
      return token;
    },
    get pageUrl() {
      return `${url}/#token=${token}`;
    },
    async close() {
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

class BodyTooLarge extends CodedError {
  constructor() {
    super('packet_too_large', 'body too large');
  }
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

/**
 * The 413 must reach the client: destroying the socket while the client still sends made
 * it see a connection reset instead. The rest of the body is read and dropped (node does
 * that for an unread request) and the connection closes after the answer; a client that
 * keeps sending past DISCARD_LIMIT more bytes is cut off.
 */
function refuseBody(req: IncomingMessage, res: ServerResponse): void {
  let discarded = 0;
  req.on('data', (c: Buffer) => {
    discarded += c.length;
    if (discarded > DISCARD_LIMIT) req.socket.destroy();
  });
  req.resume();
  res.setHeader('Connection', 'close');
  // The answer is complete at once (Content-Length), but the socket closes only after the
  // body has been read: closing it earlier made a client still sending (curl) fail with
  // "Send failure: Broken pipe" instead of reading the 413.
  send(res, 413, { error: `the body is larger than ${MAX_BODY / 1024 / 1024} MiB` }, req.readableEnded ? undefined : req);
}

const DISCARD_LIMIT = 64 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_BODY) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (size > MAX_BODY) return; // refused: the rest is dropped
      size += c.length;
      if (size > MAX_BODY) {
        chunks.length = 0;
        reject(new BodyTooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Writes the answer; with `endAfter`, the response (and a `Connection: close` socket) ends once that request has been read. */
function send(res: ServerResponse, status: number, body: unknown, endAfter?: IncomingMessage): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  if (!endAfter) return void res.end(text);
  res.write(text);
  const end = () => res.end();
  endAfter.once('end', end);
  endAfter.once('close', end);
}
