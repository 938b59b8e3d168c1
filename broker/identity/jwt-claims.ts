// The claims of a workload's ID token, read (not verified: the service the token is
// sent to verifies its signature) to check it before it is sent anywhere: the audience
// is the configured one and the token has not expired. Errors name claims, never the token.

export interface TokenClaims {
  issuer: string;
  subject: string;
  audience: string[];
  expiresAt: Date;
}

export function readClaims(jwt: string): TokenClaims {
  const parts = jwt.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[\w-]+$/.test(p))) throw new Error('the token is not a JWT (three base64url parts)');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new Error('the token is not a JWT (its payload is not JSON)');
  }
  if (typeof claims !== 'object' || claims === null) throw new Error('the token is not a JWT (its payload is not a JSON object)');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new Error('the token has no `exp` claim');
  return {
    issuer: typeof claims.iss === 'string' ? claims.iss : '',
    subject: typeof claims.sub === 'string' ? claims.sub : '',
    audience: aud.filter((a): a is string => typeof a === 'string'),
    expiresAt: new Date(claims.exp * 1000),
  };
}

/** The claims of a token fit to use for `audience` at `now`, or an Error saying why not. */
export function checkToken(jwt: string, audience: string, now: number): TokenClaims {
  const claims = readClaims(jwt.trim());
  if (!claims.audience.includes(audience)) {
    const got = claims.audience.length ? claims.audience.map((a) => `'${a}'`).join(', ') : 'none';
    throw new Error(`the token's audience (aud: ${got}) is not the configured '${audience}'; it was not used`);
  }
  if (claims.expiresAt.getTime() <= now) throw new Error(`the token expired at ${claims.expiresAt.toISOString()}`);
  return claims;
}
