// Error answers of the HTTP connectors: the catalog's httpStatus, and a body with the
// catalog code and the broker's message, as JSON when the client accepts JSON and as
// text otherwise. Messages are the broker's own (never a credential or header value).
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { BrokerError, BrokerErrorCode } from '../../errors.js';

export interface ErrorBody {
  status: number;
  code: BrokerErrorCode;
  message: string;
}

export function errorBody(err: BrokerError, status = err.entry.httpStatus): ErrorBody {
  return { status, code: err.code, message: err.message };
}

function render(e: ErrorBody, accept: string | undefined): { type: string; body: string } {
  if (accept && /json/i.test(accept)) {
    return { type: 'application/json', body: `${JSON.stringify({ error: { code: e.code, message: e.message, status: e.status } })}\n` };
  }
  return { type: 'text/plain; charset=utf-8', body: `secretless-desktop: ${e.message} (${e.code})\n` };
}

export function sendError(res: ServerResponse, e: ErrorBody, accept: string | undefined, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { type, body } = render(e, accept);
  res.writeHead(e.status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(body);
}

/** The same answer on a raw socket (upgrade, CONNECT, client errors), then close. */
export function writeRawError(socket: Duplex, e: ErrorBody, accept?: string, extra: Record<string, string> = {}): void {
  if (!socket.writable) return;
  const { type, body } = render(e, accept);
  const head = [
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}`,
    `content-type: ${type}`,
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
