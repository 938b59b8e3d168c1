// The HTTP auth mechanisms, one shape for all: given the request's method, URL and
// outgoing headers and the service's credentials, say what to add. SigV4 also needs
// the payload hash, which the caller supplies (UNSIGNED-PAYLOAD or the buffered body's).
import type { ResolvedCredentials } from '../../credentials/types.js';
import { BrokerError } from '../../errors.js';
import type { HttpAuth } from './settings.js';
import { acceptsUnsignedPayload, isPresigned, scopeFromAuthorization, scopeFromHost, signRequest, type SigningScope } from './sigv4.js';
import { renderTemplate } from './template.js';

export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
}

export interface ApplyExtra {
  clientAuthorization?: string;
  /** The hash of the body the broker read (a 'hash' body plan). */
  payloadHash?: string;
  /** The client's x-amz-content-sha256: how its streamed body is framed and hashed. */
  clientPayloadHash?: string;
}

/** How the body is sent: streamed as is, or read first (SigV4 needs its hash). */
export type BodyPlan = { type: 'stream' } | { type: 'hash'; maxBytes: number };

export interface AuthMechanism {
  /** Header names the mechanism sets: a client-sent header of that name is dropped. */
  readonly headerNames: string[];
  /** Every request gets the same headers (no signature, no query parameters) while the credentials last. */
  readonly headersOnly: boolean;
  bodyPlan(req: OutgoingRequest, clientAuthorization: string | undefined): BodyPlan;
  /** Adds the credential to req (headers, query); `payloadHash` when the plan was 'hash'. */
  apply(req: OutgoingRequest, creds: ResolvedCredentials, extra: ApplyExtra): Promise<void>;
  /** For audit and the UI. */
  readonly name: string;
}

export function createAuthMechanism(auth: HttpAuth): AuthMechanism {
  switch (auth.type) {
    case 'basic':
      return {
        name: 'basic',
        headerNames: ['authorization'],
        headersOnly: true,
        bodyPlan: () => ({ type: 'stream' }),
        async apply(req, creds) {
          const user = need(creds, 'username');
          const password = need(creds, 'password');
          req.headers.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
          checkedHeaderValue('Authorization', user + password);
        },
      };
    case 'bearer':
      return {
        name: 'bearer',
        headerNames: ['authorization'],
        headersOnly: true,
        bodyPlan: () => ({ type: 'stream' }),
        async apply(req, creds) {
          req.headers.authorization = checkedHeaderValue('Authorization', `Bearer ${need(creds, 'token')}`);
        },
      };
    case 'templates':
      return {
        name: 'header-template',
        headerNames: auth.headers.map(([name]) => name.toLowerCase()),
        headersOnly: auth.queryParams.length === 0,
        bodyPlan: () => ({ type: 'stream' }),
        async apply(req, creds) {
          const value = (k: string) => creds.text(k);
          for (const [name, t] of auth.headers) req.headers[name.toLowerCase()] = checkedHeaderValue(name, renderTemplate(t, value));
          for (const [name, t] of auth.queryParams) req.url.searchParams.set(name, renderTemplate(t, value));
        },
      };
    case 'aws-sigv4':
      return createSigV4(auth);
  }
}

function createSigV4(auth: Extract<HttpAuth, { type: 'aws-sigv4' }>): AuthMechanism {
  const scopeOf = (url: URL, clientAuthorization: string | undefined): SigningScope => {
    const fromHost = scopeFromHost(url.hostname);
    const fromClient = scopeFromAuthorization(clientAuthorization);
    const region = auth.region ?? fromClient.region ?? fromHost.region;
    const service = auth.service ?? fromClient.service ?? fromHost.service;
    if (!region || !service) {
      throw new BrokerError('target_error', `cannot tell the AWS region and service for ${url.host}: set \`region\` and \`service\` in the service's config`);
    }
    return { region, service };
  };
  return {
    name: 'aws-sigv4',
    headerNames: ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
    headersOnly: false,
    bodyPlan(req, clientAuthorization) {
      if (isPresigned(req.url)) return { type: 'stream' };
      return acceptsUnsignedPayload(scopeOf(req.url, clientAuthorization).service) ? { type: 'stream' } : { type: 'hash', maxBytes: auth.maxSignedBodyBytes };
    },
    async apply(req, creds, extra) {
      // A presigned URL carries its own signature; adding ours would make it invalid.
      if (isPresigned(req.url)) return;
      const sessionToken = creds.text('sessionToken') ?? creds.text('accessToken');
      const added = await signRequest({
        method: req.method,
        url: req.url,
        headers: req.headers,
        payloadHash: extra.payloadHash ?? streamedPayloadHash(extra.clientPayloadHash),
        scope: scopeOf(req.url, extra.clientAuthorization),
        keys: { accessKeyId: need(creds, 'accessKeyId'), secretAccessKey: need(creds, 'secretAccessKey'), ...(sessionToken ? { sessionToken } : {}) },
      });
      Object.assign(req.headers, added);
    },
  };
}

/**
 * The x-amz-content-sha256 to sign a streamed body with. The client's value describes
 * the body it sends, so it is kept when the broker can sign for it: the body's own hash
 * (S3 checks it), UNSIGNED-PAYLOAD, or aws-chunked framing without chunk signatures
 * (STREAMING-UNSIGNED-PAYLOAD-TRAILER, newer SDKs' checksum trailers). Chunks signed with
 * the client's own keys cannot be re-signed: a clear refusal instead of S3's error.
 */
function streamedPayloadHash(client: string | undefined): string {
  if (client === undefined || client === 'UNSIGNED-PAYLOAD' || client === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' || /^[0-9a-f]{64}$/.test(client)) return client ?? 'UNSIGNED-PAYLOAD';
  if (client.startsWith('STREAMING-')) {
    throw new BrokerError(
      'protocol_violation',
      `the client signed its upload in chunks (x-amz-content-sha256: ${client}) with its own keys, which the broker cannot re-sign; send it unsigned (aws --no-sign-request, or an SDK with unsigned payloads)`,
    );
  }
  return 'UNSIGNED-PAYLOAD';
}

function need(creds: ResolvedCredentials, key: string): string {
  const v = creds.text(key);
  if (v === undefined) throw new BrokerError('provider_failed', `credential '${key}' has no value`);
  return v;
}

/** A credential with a line break would split the header (and could smuggle a second one). */
function checkedHeaderValue(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new BrokerError('provider_failed', `the value for header ${name} contains a line break or NUL; check the credential`);
  return value;
}
