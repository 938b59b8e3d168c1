// Where a request goes and what its head looks like upstream, for both modes: the
// target URL (reverse: upstream base + path; forward: the absolute URI, matched against
// authenticateURLsMatching, forceSSL applied), the headers with hop-by-hop and every
// client-supplied credential removed, and `Location` answers mapped back to the broker.
// Pure: no I/O.
import type { HttpMode } from './settings.js';

/** Headers that belong to one hop (RFC 9110 7.6.1) and never cross the proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Credentials the client might send: the broker's own replace them, the client never overrides them. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-signature']);

export type Target =
  | { type: 'ok'; url: URL }
  | { type: 'refused'; status: 400 | 403; message: string };

/** The upstream URL for a request target (`req.url`) as the client sent it. */
export function resolveTarget(mode: HttpMode, requestTarget: string): Target {
  if (mode.type === 'reverse') {
    if (!requestTarget.startsWith('/')) {
      return { type: 'refused', status: 400, message: 'this service is a reverse proxy: send origin-form requests (GET /path), not a proxy request' };
    }
    return { type: 'ok', url: joinUpstream(mode.upstream, requestTarget) };
  }
  let url: URL;
  try {
    url = new URL(requestTarget);
  } catch {
    return { type: 'refused', status: 400, message: 'this service is a forward proxy: set http_proxy to its address and request absolute http:// URLs' };
  }
  if (url.protocol !== 'http:' || !url.hostname) return { type: 'refused', status: 400, message: `unsupported URL scheme ${url.protocol} for a forward proxy request (expected http://)` };
  if (!mode.match.some((re) => re.test(requestTarget))) {
    const why = mode.match.length === 0 ? 'the service has no authenticateURLsMatching patterns' : 'it matches none of the service\'s authenticateURLsMatching patterns';
    return { type: 'refused', status: 403, message: `refused to forward a request to ${url.host}: ${why}, and the broker never forwards requests without its credentials` };
  }
  if (mode.forceSSL) url.protocol = 'https:';
  return { type: 'ok', url };
}

/** Upstream base path + the request's path and query, without doubling the slash. */
export function joinUpstream(upstream: URL, requestTarget: string): URL {
  const base = upstream.pathname.replace(/\/+$/, '');
  const url = new URL(upstream.href);
  const q = requestTarget.indexOf('?');
  url.pathname = base + (q < 0 ? requestTarget : requestTarget.slice(0, q));
  url.search = q < 0 ? '' : requestTarget.slice(q);
  return url;
}

/**
 * The request headers to send upstream: hop-by-hop headers (and those the client's
 * Connection header names), client credentials and the headers the broker sets itself
 * removed; Host set to the upstream's. `rawHeaders` is Node's flat [name, value, ...].
 */
export function upstreamHeaders(rawHeaders: string[], url: URL, brokerSet: Iterable<string>): Record<string, string | string[]> {
  const drop = dropSetFor(brokerSet);
  let named: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of rawHeaders[i + 1]!.split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (drop.has(name) || named?.has(name)) continue;
    const prev = out[name];
    out[name] = prev === undefined ? rawHeaders[i + 1]! : Array.isArray(prev) ? [...prev, rawHeaders[i + 1]!] : [prev, rawHeaders[i + 1]!];
  }
  out.host = url.host;
  return out;
}

// The headers a request never carries upstream, per set of broker-set names (one per
// service's auth mechanism): built once, not per request.
const dropSets = new WeakMap<object, Set<string>>();
/** The request header names never sent upstream (besides those the client's Connection names). */
export function dropSetFor(brokerSet: Iterable<string>): Set<string> {
  let drop = dropSets.get(brokerSet as object);
  if (!drop) {
    // Expect: 100-continue was answered by the broker's own server already.
    drop = new Set([...HOP_BY_HOP, ...CLIENT_CREDENTIALS, 'host', 'expect', ...[...brokerSet].map((h) => h.toLowerCase())]);
    dropSets.set(brokerSet as object, drop);
  }
  return drop;
}

/** Response headers to pass to the client: hop-by-hop removed, Location mapped back. */
export function clientHeaders(
  headers: Record<string, string | string[] | undefined>,
  mapLocation: (value: string) => string,
): Record<string, string | string[]> {
  const conn = headers.connection;
  const named = typeof conn === 'string' ? new Set(conn.split(',').map((t) => t.trim().toLowerCase())) : undefined;
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = (name === 'location' || name === 'content-location') && typeof value === 'string' ? mapLocation(value) : value;
  }
  return out;
}

/**
 * Reverse mode: a Location pointing into the upstream (absolute, or an absolute path
 * under its base) becomes the same resource on the broker's address, so redirects stay
 * on the broker. Anything else (another host, a path outside the base) is left alone.
 */
export function mapLocationReverse(value: string, upstream: URL, local: string): string {
  const base = upstream.pathname.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(value, upstream);
  } catch {
    return value;
  }
  if (url.origin !== upstream.origin) return value;
  if (base && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return value;
  const rest = url.pathname.slice(base.length) || '/';
  const tail = rest + url.search + url.hash;
  // A relative reference stays relative (the client resolves it against the broker).
  return /^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith('//') ? `${local}${tail}` : tail;
}

/** Forward mode with forceSSL: https Locations on the same host go back through the proxy as http. */
export function mapLocationForward(value: string, requested: URL, forceSSL: boolean): string {
  if (!forceSSL) return value;
  try {
    const url = new URL(value, requested);
    if (url.protocol === 'https:' && url.hostname === requested.hostname && /^https:/i.test(value)) {
      url.protocol = 'http:';
      return url.href;
    }
  } catch {
    // Not a URL: pass it through untouched.
  }
  return value;
}

/** The path without its query string, for audit (queries may carry secrets). */
export function auditPath(requestTarget: string): string {
  let path = requestTarget;
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname;
    } catch {
      path = '';
    }
  }
  const q = path.search(/[?#]/);
  return (q < 0 ? path : path.slice(0, q)).slice(0, 512);
}
