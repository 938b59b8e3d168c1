// Backend TLS settings shared by the database connectors: libpq-style sslmode
// semantics, and certificate material given either as a file path or as PEM text.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { BrokerError } from '../errors.js';

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export const SSL_MODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface BackendTlsSettings {
  mode: SslMode;
  /** How the server certificate is checked once TLS is up. */
  verify: 'none' | 'ca' | 'full';
  options: tls.ConnectionOptions;
}

export interface BackendTlsInput {
  sslmode?: string;
  /** Default when sslmode is absent. Secretless Broker defaults to require. */
  defaultMode: SslMode;
  host: string;
  sslhost?: string;
  sslrootcert?: Buffer;
  sslcert?: Buffer;
  sslkey?: Buffer;
}

export function parseSslMode(value: string | undefined, fallback: SslMode): SslMode {
  if (value === undefined || value === '') return fallback;
  if ((SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new BrokerError('tls_failed', `unsupported sslmode '${value}' (expected ${SSL_MODES.join(', ')})`);
}

/** PEM text is used as is; anything else is a path to read. */
export async function tlsMaterial(name: string, value: Buffer | undefined): Promise<Buffer | undefined> {
  if (!value || value.length === 0) return undefined;
  if (value.includes('-----BEGIN ')) return value;
  const path = value.toString('utf8').trim();
  try {
    return await readFile(path);
  } catch (err) {
    throw new BrokerError('tls_failed', `cannot read ${name} file '${path}': ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export async function backendTlsSettings(input: BackendTlsInput): Promise<BackendTlsSettings> {
  const mode = parseSslMode(input.sslmode, input.defaultMode);
  const ca = await tlsMaterial('sslrootcert', input.sslrootcert);
  const cert = await tlsMaterial('sslcert', input.sslcert);
  const key = await tlsMaterial('sslkey', input.sslkey);
  // As libpq: require with a root certificate present behaves like verify-ca.
  const verify = mode === 'verify-full' ? 'full' : mode === 'verify-ca' || (mode === 'require' && ca) ? 'ca' : 'none';
  if (verify !== 'none' && !ca)
    throw new BrokerError('tls_failed', `sslmode ${mode} needs sslrootcert (the CA that signed the target's certificate)`);
  if ((cert && !key) || (key && !cert)) throw new BrokerError('tls_failed', 'sslcert and sslkey must be given together');
  const checkName = input.sslhost || input.host;
  const options: tls.ConnectionOptions = {
    ca: ca ? [ca] : undefined,
    cert,
    key,
    rejectUnauthorized: verify !== 'none',
    servername: isIP(checkName) ? undefined : checkName,
    checkServerIdentity: verify === 'full' ? (_host, peer) => tls.checkServerIdentity(checkName, peer) : () => undefined,
  };
  return { mode, verify, options };
}

/** The sslmode/sslhost/sslrootcert/sslcert/sslkey credentials of a database service. */
export function backendTlsFromCredentials(
  creds: { text(key: string): string | undefined; values: Map<string, Buffer> },
  host: string,
  defaultMode: SslMode = 'require',
): Promise<BackendTlsSettings> {
  return backendTlsSettings({
    sslmode: creds.text('sslmode'),
    defaultMode,
    host,
    sslhost: creds.text('sslhost'),
    sslrootcert: creds.values.get('sslrootcert'),
    sslcert: creds.values.get('sslcert'),
    sslkey: creds.values.get('sslkey'),
  });
}

/** Upgrade an established socket; resolves once the handshake (and verification) is done. */
export function upgradeToTls(
  socket: import('node:net').Socket,
  settings: BackendTlsSettings,
  target: string,
  signal: AbortSignal,
  aborted: () => Error,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...settings.options, socket });
    const onAbort = () => secure.destroy(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    const fail = (err: Error) => {
      signal.removeEventListener('abort', onAbort);
      secure.destroy();
      reject(err instanceof BrokerError ? err : new BrokerError('tls_failed', `TLS to ${target} failed: ${describeTlsError(err)}`, { cause: err }));
    };
    secure.once('error', fail);
    secure.once('secureConnect', () => {
      secure.off('error', fail);
      signal.removeEventListener('abort', onAbort);
      resolve(secure);
    });
  });
}

export function describeTlsError(err: Error & { code?: string; reason?: string }): string {
  switch (err.code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `the server certificate is not signed by the configured sslrootcert (${err.code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server certificate does not match the expected host name: ${err.reason ?? err.message}`;
    case 'CERT_HAS_EXPIRED':
      return 'the server certificate has expired';
    default:
      return err.message;
  }
}
