// AWS Signature Version 4 for requests the broker forwards: the client sends no AWS
// credentials (e.g. `aws --no-sign-request --endpoint-url http://127.0.0.1:PORT`), the
// broker signs with the service's credentials using the AWS SDK's own signer. S3 takes
// UNSIGNED-PAYLOAD, so its bodies stream; other services need the body's hash, so
// their bodies are read up to a cap first. Presigned URLs already carry a signature
// and are forwarded untouched.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigningScope {
  region: string;
  service: string;
}

/** Services that accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is not hashed). */
const UNSIGNED_PAYLOAD_SERVICES = new Set(['s3']);

export function acceptsUnsignedPayload(service: string): boolean {
  return UNSIGNED_PAYLOAD_SERVICES.has(service);
}

/** A presigned URL (query-string authentication) is already signed by whoever made it. */
export function isPresigned(url: URL): boolean {
  return url.searchParams.has('X-Amz-Signature') || url.searchParams.has('Signature');
}

/**
 * Region and service from the upstream host name, for AWS's own endpoints:
 * `s3.eu-west-1.amazonaws.com`, `bucket.s3.eu-west-1.amazonaws.com`, `sts.amazonaws.com`,
 * `abc.execute-api.us-east-1.amazonaws.com`, `s3.amazonaws.com` (us-east-1).
 */
export function scopeFromHost(host: string): Partial<SigningScope> {
  const labels = host.toLowerCase().split('.');
  const end = labels.lastIndexOf('amazonaws');
  if (end < 1) return {};
  const before = labels.slice(0, end);
  const r = before.findIndex((l) => /^[a-z]{2}(?:-gov)?-[a-z]+-\d$/.test(l));
  const service = r > 0 ? before[r - 1]! : r < 0 ? before[before.length - 1]! : undefined;
  if (!service) return {};
  return { service: service.startsWith('s3-') ? 's3' : service, region: r > 0 ? before[r]! : 'us-east-1' };
}

/**
 * Region and service from a signature the client made itself (Secretless-style clients
 * sign with placeholder keys): `AWS4-HMAC-SHA256 Credential=AKID/20240101/REGION/SERVICE/aws4_request, ...`.
 */
export function scopeFromAuthorization(header: string | undefined): Partial<SigningScope> {
  const m = header && /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/.exec(header);
  return m ? { region: m[1]!, service: m[2]! } : {};
}

export interface SignInput {
  method: string;
  url: URL;
  /** Headers that go upstream (lower-case names); the signed subset is taken from them. */
  headers: Record<string, string | string[]>;
  /** The body's SHA-256 (hex), or 'UNSIGNED-PAYLOAD'. */
  payloadHash: string;
  scope: SigningScope;
  keys: AwsKeys;
  now?: Date;
}

/** The headers to add: authorization, x-amz-date, x-amz-content-sha256 and the session token. */
export async function signRequest(input: SignInput): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: input.scope.service,
    region: input.scope.region,
    credentials: input.keys,
    sha256: Sha256,
    // S3 signs the path as sent; every other service signs it URI-encoded once more.
    uriEscapePath: input.scope.service !== 's3',
  });
  // Sign only what no hop will change: host, content type/md5 and x-amz-* headers.
  const signed: Record<string, string> = { host: input.url.host, 'x-amz-content-sha256': input.payloadHash };
  for (const [name, value] of Object.entries(input.headers)) {
    if (name === 'content-type' || name === 'content-md5' || (name.startsWith('x-amz-') && !name.startsWith('x-amz-content-sha256'))) {
      signed[name] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of input.url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const request = await signer.sign(
    {
      method: input.method,
      protocol: input.url.protocol,
      hostname: input.url.hostname,
      ...(input.url.port ? { port: Number(input.url.port) } : {}),
      path: input.url.pathname,
      query,
      headers: signed,
    },
    input.now ? { signingDate: input.now } : {},
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'x-amz-date' || lower === 'x-amz-security-token' || lower === 'x-amz-content-sha256') out[lower] = value;
  }
  return out;
}

/** The checksum constructor SignatureV4 wants: SHA-256, or HMAC-SHA-256 when given a key. */
class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(key?: string | Uint8Array | ArrayBuffer | ArrayBufferView) {
    const k = key === undefined ? undefined : typeof key === 'string' ? key : Buffer.from(key as Uint8Array);
    this.h = k === undefined ? createHash('sha256') : createHmac('sha256', k);
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {
    // SignatureV4 makes a new instance per use; nothing to reset.
  }
}
