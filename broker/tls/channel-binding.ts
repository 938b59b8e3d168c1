// tls-server-end-point channel binding (RFC 5929 section 4.1): a hash of the server's
// certificate, using the certificate's signature hash, upgraded to SHA-256 for MD5 and
// SHA-1. Needs the signature algorithm OID, which Node does not expose, so this reads
// just enough DER to find it.
import { createHash } from 'node:crypto';

const hashByOid: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'sha256', // md5WithRSAEncryption -> sha256 per RFC 5929
  '1.2.840.113549.1.1.5': 'sha256', // sha1WithRSAEncryption -> sha256
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.1': 'sha256', // ecdsa-with-SHA1 -> sha256
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

interface Tlv {
  tag: number;
  start: number; // content start
  end: number; // content end
}

function readTlv(der: Buffer, pos: number): Tlv {
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const parts = [Math.floor(bytes[0]! / 40), bytes[0]! % 40];
  let value = 0;
  for (let i = 1; i < bytes.length; i++) {
    value = value * 128 + (bytes[i]! & 0x7f);
    if (!(bytes[i]! & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** OID of the certificate's signatureAlgorithm. */
export function signatureAlgorithmOid(certDer: Buffer): string {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.start);
  const algId = readTlv(certDer, tbs.end);
  const oid = readTlv(certDer, algId.start);
  if (cert.tag !== 0x30 || algId.tag !== 0x30 || oid.tag !== 0x06) throw new Error('not an X.509 certificate');
  return decodeOid(certDer.subarray(oid.start, oid.end));
}

/** The tls-server-end-point binding data, or undefined when the algorithm has no defined hash (e.g. Ed25519, RSA-PSS). */
export function tlsServerEndPoint(certDer: Buffer): Buffer | undefined {
  let oid: string;
  try {
    oid = signatureAlgorithmOid(certDer);
  } catch {
    return undefined;
  }
  const hash = hashByOid[oid];
  return hash ? createHash(hash).update(certDer).digest() : undefined;
}
