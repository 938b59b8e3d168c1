// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS client (RFC 5802, RFC 7677, RFC 5929
// tls-server-end-point), as PostgreSQL speaks it. The expensive PBKDF2 step is cached
// per (password, salt, iterations) so connection churn does not pay it each time: the
// backend keeps the same salt until the role's password changes.
import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { BrokerError, CodedError } from '../../errors.js';
import { tlsServerEndPoint } from '../../tls/channel-binding.js';
import { loginRandom } from '../login-random.js';
import type { PgAuthMechanism } from './auth-mechanism.js';
import { encodeSaslInitialResponse, encodeSaslResponse, type AuthRequest } from './codec.js';

const pbkdf2Async = promisify(pbkdf2);

export class ScramError extends CodedError {
  constructor(message: string) {
    super('target_protocol_error', message);
  }
}

export interface ScramOptions {
  password: Buffer;
  /** When set, use SCRAM-SHA-256-PLUS with tls-server-end-point binding over this hash. */
  channelBinding?: Buffer;
  /**
   * TLS is up but the server did not offer PLUS: send the 'y' flag (RFC 5802 section 6)
   * so a server that does support binding detects a stripped offer, as libpq does.
   */
  bindingSupported?: boolean;
  nonce?: string;
  /** PostgreSQL ignores the SCRAM user name (it uses the startup user), so it is empty by default. */
  username?: string;
}

export interface ScramClient {
  readonly mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS';
  clientFirst(): Buffer;
  clientFinal(serverFirst: Buffer): Promise<Buffer>;
  verifyServerFinal(serverFinal: Buffer): void;
}

/** Bounded cache of salted passwords, keyed by a hash that includes the password. */
const saltedCache = new Map<string, Buffer>();
const SALTED_CACHE_MAX = 256;

async function saltedPassword(password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  const key = createHash('sha256').update(password).update('\0').update(salt).update(String(iterations)).digest('base64');
  const hit = saltedCache.get(key);
  if (hit) return hit;
  const value = await pbkdf2Async(saslPrep(password), salt, iterations, 32, 'sha256');
  if (saltedCache.size >= SALTED_CACHE_MAX) saltedCache.delete(saltedCache.keys().next().value!);
  saltedCache.set(key, value);
  return value;
}

/** SASLprep (RFC 4013) normalisation; PostgreSQL uses the raw bytes when they are not valid UTF-8. */
function saslPrep(password: Buffer): Buffer {
  const text = password.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(password)) return password;
  const mapped = text.replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, ' ').replace(/[\u00AD\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '');
  return Buffer.from(mapped.normalize('NFKC'), 'utf8');
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function parseAttributes(msg: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new ScramError('malformed SCRAM message from the server');
    attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}

export function createScramClient(options: ScramOptions): ScramClient {
  const plus = options.channelBinding !== undefined;
  const gs2Header = plus ? 'p=tls-server-end-point,,' : options.bindingSupported ? 'y,,' : 'n,,';
  const clientNonce = options.nonce ?? loginRandom(18).toString('base64');
  const clientFirstBare = `n=${options.username ?? ''},r=${clientNonce}`;
  let expectedServerSignature: Buffer | undefined;

  return {
    mechanism: plus ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256',
    clientFirst: () => Buffer.from(gs2Header + clientFirstBare, 'utf8'),
    async clientFinal(serverFirstBuf) {
      const serverFirst = serverFirstBuf.toString('utf8');
      const attrs = parseAttributes(serverFirst);
      const nonce = attrs.get('r');
      const salt = attrs.get('s');
      const iterations = Number(attrs.get('i'));
      if (!nonce || !salt || !Number.isInteger(iterations) || iterations < 1)
        throw new ScramError('malformed SCRAM server-first message');
      if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length)
        throw new ScramError('SCRAM server nonce does not extend the client nonce');
      const cbindInput = plus ? Buffer.concat([Buffer.from(gs2Header), options.channelBinding!]) : Buffer.from(gs2Header);
      const clientFinalWithoutProof = `c=${cbindInput.toString('base64')},r=${nonce}`;
      const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
      const salted = await saltedPassword(options.password, Buffer.from(salt, 'base64'), iterations);
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const clientSignature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
      expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return Buffer.from(`${clientFinalWithoutProof},p=${proof.toString('base64')}`, 'utf8');
    },
    verifyServerFinal(serverFinalBuf) {
      const attrs = parseAttributes(serverFinalBuf.toString('utf8'));
      if (attrs.has('e')) throw new ScramError(`SCRAM authentication failed: ${attrs.get('e')}`);
      const v = attrs.get('v');
      if (!v || !expectedServerSignature) throw new ScramError('malformed SCRAM server-final message');
      const got = Buffer.from(v, 'base64');
      if (got.length !== expectedServerSignature.length || !timingSafeEqual(got, expectedServerSignature))
        throw new ScramError('the server did not prove it knows the password (SCRAM server signature mismatch)');
    },
  };
}

/** Clears cached salted passwords (rotation tests, shutdown). */
export function clearScramCache(): void {
  saltedCache.clear();
}

/** SASL with SCRAM-SHA-256, with channel binding (-PLUS) when the link is TLS and the server offers it. */
export const scramMechanism: PgAuthMechanism<Extract<AuthRequest, { type: 'sasl' }>> = {
  start(req, input) {
    const binding = input.tlsSocket ? tlsServerEndPoint(input.tlsSocket.getPeerCertificate().raw) : undefined;
    const plus = binding && req.mechanisms.includes('SCRAM-SHA-256-PLUS');
    if (!plus && !req.mechanisms.includes('SCRAM-SHA-256'))
      throw new BrokerError('unsupported_auth', `the target offered SASL mechanisms ${req.mechanisms.join(', ')}; the broker supports SCRAM-SHA-256(-PLUS)`);
    const scram = createScramClient({ password: input.password('SCRAM-SHA-256'), channelBinding: plus ? binding : undefined, bindingSupported: !!binding });
    return {
      method: scram.mechanism.toLowerCase(),
      first: encodeSaslInitialResponse(scram.mechanism, scram.clientFirst()),
      async onMessage(msg) {
        try {
          if (msg.type === 'sasl-continue') return encodeSaslResponse(await scram.clientFinal(msg.data));
          scram.verifyServerFinal(msg.data);
          return undefined;
        } catch (err) {
          if (err instanceof ScramError) throw new BrokerError('target_protocol_error', err.message);
          throw err;
        }
      },
    };
  },
};
