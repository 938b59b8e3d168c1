// The `identities:` section of secretless.yml (our extension). Kinds of entry, told
// apart by `type` (default `oidc`):
//   oidc  - a login with an OpenID Connect provider (authorization code + PKCE, or device code)
//   github-actions, token-file, token-env - a workload's own ID token from its platform
//           (a CI runner, a Kubernetes pod): used wherever an oidc identity's ID token is
//   aws   - AWS access: a role assumed with an oidc identity's ID token, or the default chain
//   gcp   - a Google access token: workload identity federation with an identity's token,
//           or the local gcloud application-default credentials
//   azure - a Microsoft Entra access token: workload identity federation with an
//           identity's token, or the local `az login` token cache
//   vault - a HashiCorp Vault server and how to log in to it
// Credentials then name an entry: `{from: aws-sts, get: NAME#accessKeyId}`,
// `{from: vault, get: NAME:database/creds/app#password}`. Validation messages name keys,
// never values.
import type { CredentialSpec } from '../config/credential-spec.js';

export interface OidcIdentity {
  type: 'oidc';
  name: string;
  issuer: string;
  clientId: string;
  /** Confidential clients only; public (PKCE) clients leave it out. */
  clientSecret?: CredentialSpec;
  scopes: string[];
  /** Sent as the `audience` authorization parameter (providers such as Auth0 want it). */
  audience?: string;
  flow: 'authorization_code' | 'device_code';
  /** Loopback redirect port; 0 (default) is a random free port, per RFC 8252. */
  redirectPort: number;
  line: number;
}

/** A workload identity: an ID token the platform hands the process, no login. */
export type WorkloadIdentity =
  | { type: 'github-actions'; name: string; audience: string; line: number }
  | { type: 'token-file'; name: string; audience: string; path: string; line: number }
  | { type: 'token-env'; name: string; audience: string; variable: string; line: number };

/** The identities that give an ID token (aws and vault jwt entries exchange it). */
export type TokenIdentity = OidcIdentity | WorkloadIdentity;

export const WORKLOAD_TYPES = ['github-actions', 'token-file', 'token-env'] as const;

export function isWorkload(i: IdentityConfig): i is WorkloadIdentity {
  return (WORKLOAD_TYPES as readonly string[]).includes(i.type);
}

export function isTokenIdentity(i: IdentityConfig): i is TokenIdentity {
  return i.type === 'oidc' || isWorkload(i);
}

export interface AwsIdentity {
  type: 'aws';
  name: string;
  /** The oidc or workload identity whose ID token is exchanged; absent: the default AWS credential chain. */
  identity?: string;
  roleArn?: string;
  durationSeconds: number;
  sessionName: string;
  region: string;
  /** Service endpoints (a private link, a local stand-in); the SDK default otherwise. */
  endpoints: { sts?: string; secretsManager?: string };
  line: number;
}

export interface GcpIdentity {
  type: 'gcp';
  name: string;
  /** The identity whose token is exchanged at Google's STS; absent: application-default credentials. */
  identity?: string;
  /** The workload identity pool provider: //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X */
  audience?: string;
  subjectTokenType: 'jwt' | 'id_token';
  /** Impersonated with generateAccessToken; absent: the federated token itself. */
  serviceAccount?: string;
  /** Lifetime of an impersonated token, 600-43200 s (default 3600). */
  lifetimeSeconds: number;
  scopes: string[];
  /** Google endpoints (a private service connect host, a local stand-in); Google's own otherwise. */
  endpoints: { sts?: string; iamCredentials?: string; oauth2?: string };
  line: number;
}

export interface AzureIdentity {
  type: 'azure';
  name: string;
  /** The identity whose token is the client assertion; absent: the `az login` token cache. */
  identity?: string;
  tenantId?: string;
  /** The app registration (or user-assigned managed identity) with the federated credential. */
  clientId?: string;
  /** Default https://ossrdbms-aad.database.windows.net/.default (Azure Database for PostgreSQL/MySQL). */
  scope: string;
  /** Default https://login.microsoftonline.com. */
  authorityHost: string;
  line: number;
}

export type VaultAuth =
  | { method: 'token'; token: CredentialSpec }
  | { method: 'approle'; mount: string; roleId: string; secretId: CredentialSpec }
  | { method: 'jwt'; mount: string; role: string; identity: string };

export interface VaultIdentity {
  type: 'vault';
  name: string;
  address: string;
  namespace?: string;
  auth: VaultAuth;
  /** A lease renewed to less than this is replaced by a fresh one. Default 60 s. */
  minLeaseTtlSeconds: number;
  line: number;
}

export type IdentityConfig = OidcIdentity | WorkloadIdentity | AwsIdentity | GcpIdentity | AzureIdentity | VaultIdentity;

export interface IdentityIssue {
  /** Key path below `identities`, e.g. ['corp', 'issuer']. */
  path: string[];
  message: string;
}

/** What the parser hands us: the section as plain data plus a line lookup. */
export interface IdentitySection {
  value: unknown;
  lineOf(path: string[]): number;
}

const TYPES = ['oidc', ...WORKLOAD_TYPES, 'aws', 'gcp', 'azure', 'vault'] as const;
const OIDC_KEYS = ['type', 'issuer', 'clientId', 'clientSecret', 'scopes', 'audience', 'flow', 'redirectPort'];
const AWS_KEYS = ['type', 'identity', 'roleArn', 'durationSeconds', 'sessionName', 'region', 'endpoints'];
const GCP_KEYS = ['type', 'identity', 'audience', 'subjectTokenType', 'serviceAccount', 'lifetimeSeconds', 'scopes', 'endpoints'];
const AZURE_KEYS = ['type', 'identity', 'tenantId', 'clientId', 'scope', 'authorityHost'];
const VAULT_KEYS = ['type', 'address', 'namespace', 'auth', 'minLeaseTtlSeconds'];
/** Where each workload type finds its token (besides `type` and `audience`). */
const WORKLOAD_SOURCE_KEY = { 'github-actions': undefined, 'token-file': 'path', 'token-env': 'variable' } as const;
const NAME = /^[A-Za-z0-9_.-]+$/;

export function parseIdentities(section: IdentitySection): { identities: IdentityConfig[]; issues: IdentityIssue[] } {
  const issues: IdentityIssue[] = [];
  const identities: IdentityConfig[] = [];
  const v = section.value;
  if (v === null || v === undefined) return { identities, issues };
  if (!isRecord(v)) return { identities, issues: [{ path: [], message: 'must be a mapping of identity name to settings' }] };
  for (const [name, raw] of Object.entries(v)) {
    const p = new Reader(name, raw, issues, section.lineOf([name]));
    if (!NAME.test(name)) p.issue([], 'identity names may use letters, digits, _ . - only');
    if (!isRecord(raw)) {
      p.issue([], `must be a mapping with at least \`issuer\` and \`clientId\` (oidc), or a \`type\` (${TYPES.slice(1).join(', ')})`);
      continue;
    }
    const type = raw.type === undefined ? 'oidc' : raw.type;
    if (typeof type !== 'string' || !(TYPES as readonly string[]).includes(type)) {
      p.issue(['type'], `must be one of ${TYPES.join(', ')}`);
      continue;
    }
    const before = issues.length;
    const parsed = (WORKLOAD_TYPES as readonly string[]).includes(type as string)
      ? parseWorkload(p, type as WorkloadIdentity['type'])
      : PARSERS[type as keyof typeof PARSERS](p);
    if (parsed && issues.length === before) identities.push(parsed);
  }
  crossCheck(identities, issues);
  return { identities, issues };
}

function parseOidc(p: Reader): OidcIdentity | undefined {
  p.onlyKeys(OIDC_KEYS);
  const issuer = p.url(['issuer'], true);
  const clientId = p.string(['clientId'], true);
  const scopes = p.stringList(['scopes']) ?? ['openid', 'offline_access'];
  if (!scopes.includes('openid')) p.issue(['scopes'], "must include 'openid' (the broker needs an ID token)");
  const flow = p.string(['flow']) ?? 'authorization_code';
  if (flow !== 'authorization_code' && flow !== 'device_code') p.issue(['flow'], 'must be authorization_code or device_code');
  const redirectPort = p.int(['redirectPort'], 0, 65535) ?? 0;
  const clientSecret = p.secretRef(['clientSecret']);
  const audience = p.string(['audience']);
  if (issuer === undefined || clientId === undefined) return undefined;
  return {
    type: 'oidc',
    name: p.name,
    issuer,
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    scopes,
    ...(audience !== undefined ? { audience } : {}),
    flow: flow as OidcIdentity['flow'],
    redirectPort,
    line: p.line,
  };
}

function parseWorkload(p: Reader, type: WorkloadIdentity['type']): WorkloadIdentity | undefined {
  const sourceKey = WORKLOAD_SOURCE_KEY[type];
  p.onlyKeys(['type', 'audience', ...(sourceKey ? [sourceKey] : [])]);
  // Required: a token minted for another audience is refused before it is sent anywhere.
  const audience = p.string(['audience'], true);
  const source = sourceKey ? p.string([sourceKey], true) : '';
  if (sourceKey === 'variable' && source !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(source)) p.issue(['variable'], 'must be an environment variable name');
  if (sourceKey === 'path' && source !== undefined && !source.startsWith('/')) p.issue(['path'], 'must be an absolute path');
  if (audience === undefined || source === undefined) return undefined;
  const base = { name: p.name, audience, line: p.line };
  if (type === 'token-file') return { type, ...base, path: source };
  if (type === 'token-env') return { type, ...base, variable: source };
  return { type, ...base };
}

function parseAws(p: Reader): AwsIdentity | undefined {
  p.onlyKeys(AWS_KEYS);
  const identity = p.string(['identity']);
  const roleArn = p.string(['roleArn']);
  if (roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(roleArn)) {
    p.issue(['roleArn'], 'must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)');
  }
  if ((identity === undefined) !== (roleArn === undefined)) {
    p.issue([identity === undefined ? 'identity' : 'roleArn'], '`identity` and `roleArn` go together (or leave both out for the default AWS credential chain)');
  }
  const durationSeconds = p.int(['durationSeconds'], 900, 43200) ?? 3600;
  const sessionName = p.string(['sessionName']) ?? 'secretless-desktop';
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) p.issue(['sessionName'], 'must be 2-64 characters of letters, digits and +=,.@_-');
  const region = p.string(['region'], true);
  const endpoints = p.endpoints(['sts', 'secretsManager']);
  if (region === undefined) return undefined;
  return {
    type: 'aws',
    name: p.name,
    ...(identity !== undefined ? { identity } : {}),
    ...(roleArn !== undefined ? { roleArn } : {}),
    durationSeconds,
    sessionName,
    region,
    endpoints,
    line: p.line,
  };
}

const GCP_AUDIENCE = /^\/\/iam\.googleapis\.com\/(projects\/\d+\/locations\/global\/workloadIdentityPools|locations\/global\/workforcePools)\/[^/]+\/providers\/[^/]+$/;

function parseGcp(p: Reader): GcpIdentity | undefined {
  p.onlyKeys(GCP_KEYS);
  const identity = p.string(['identity']);
  const audience = p.string(['audience']);
  if (audience !== undefined && !GCP_AUDIENCE.test(audience)) {
    p.issue(['audience'], 'must be a workload identity pool provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER');
  }
  if ((identity === undefined) !== (audience === undefined)) {
    p.issue([identity === undefined ? 'identity' : 'audience'], '`identity` and `audience` go together (or leave both out for the gcloud application-default credentials)');
  }
  const subjectTokenType = p.string(['subjectTokenType']) ?? 'jwt';
  if (subjectTokenType !== 'jwt' && subjectTokenType !== 'id_token') p.issue(['subjectTokenType'], 'must be jwt or id_token');
  const serviceAccount = p.string(['serviceAccount']);
  if (serviceAccount !== undefined && !/^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$/.test(serviceAccount)) {
    p.issue(['serviceAccount'], 'must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)');
  }
  const lifetimeSeconds = p.int(['lifetimeSeconds'], 600, 43200) ?? 3600;
  const scopes = p.stringList(['scopes']) ?? ['https://www.googleapis.com/auth/cloud-platform'];
  const endpoints = p.endpoints(['sts', 'iamCredentials', 'oauth2']);
  return {
    type: 'gcp',
    name: p.name,
    ...(identity !== undefined ? { identity } : {}),
    ...(audience !== undefined ? { audience } : {}),
    subjectTokenType: subjectTokenType as GcpIdentity['subjectTokenType'],
    ...(serviceAccount !== undefined ? { serviceAccount } : {}),
    lifetimeSeconds,
    scopes,
    endpoints,
    line: p.line,
  };
}

const GUID_OR_DOMAIN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$/i;

function parseAzure(p: Reader): AzureIdentity | undefined {
  p.onlyKeys(AZURE_KEYS);
  const identity = p.string(['identity']);
  const tenantId = p.string(['tenantId']);
  const clientId = p.string(['clientId']);
  if (tenantId !== undefined && !GUID_OR_DOMAIN.test(tenantId)) p.issue(['tenantId'], 'must be a directory (tenant) id or domain');
  if (identity !== undefined) {
    if (tenantId === undefined) p.issue(['tenantId'], 'missing `tenantId` (needed with `identity`)');
    if (clientId === undefined) p.issue(['clientId'], 'missing `clientId`: the app registration that trusts the identity (needed with `identity`)');
  } else if (clientId !== undefined) {
    p.issue(['identity'], '`clientId` needs `identity` (leave both out for the `az login` token cache)');
  }
  const scope = p.string(['scope']) ?? 'https://ossrdbms-aad.database.windows.net/.default';
  const authorityHost = p.url(['authorityHost']) ?? 'https://login.microsoftonline.com';
  return {
    type: 'azure',
    name: p.name,
    ...(identity !== undefined ? { identity } : {}),
    ...(tenantId !== undefined ? { tenantId } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    scope,
    authorityHost,
    line: p.line,
  };
}

function parseVault(p: Reader): VaultIdentity | undefined {
  p.onlyKeys(VAULT_KEYS);
  const address = p.url(['address'], true);
  const namespace = p.string(['namespace']);
  const minLeaseTtlSeconds = p.int(['minLeaseTtlSeconds'], 1, 86400) ?? 60;
  const auth = parseVaultAuth(p);
  if (address === undefined || !auth) return undefined;
  return { type: 'vault', name: p.name, address, ...(namespace ? { namespace } : {}), auth, minLeaseTtlSeconds, line: p.line };
}

function parseVaultAuth(p: Reader): VaultAuth | undefined {
  const raw = p.raw(['auth']);
  if (!isRecord(raw)) {
    p.issue(['auth'], raw === undefined ? 'missing `auth:` (method: token, approle or jwt)' : 'must be a mapping with `method`');
    return undefined;
  }
  const method = p.string(['auth', 'method'], true);
  const keys: Record<string, string[]> = {
    token: ['method', 'token'],
    approle: ['method', 'mount', 'roleId', 'secretId'],
    jwt: ['method', 'mount', 'role', 'identity'],
  };
  if (method === undefined) return undefined;
  if (!keys[method]) {
    p.issue(['auth', 'method'], 'must be token, approle or jwt');
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!keys[method]!.includes(key)) p.issue(['auth', key], `unknown key '${key}' for method ${method}: expected ${keys[method]!.join(', ')}`);
  if (method === 'token') {
    const token = p.secretRef(['auth', 'token'], true);
    return token ? { method, token } : undefined;
  }
  if (method === 'approle') {
    const roleId = p.string(['auth', 'roleId'], true);
    const secretId = p.secretRef(['auth', 'secretId'], true);
    const mount = p.string(['auth', 'mount']) ?? 'approle';
    return roleId !== undefined && secretId ? { method, mount, roleId, secretId } : undefined;
  }
  const role = p.string(['auth', 'role'], true);
  const identity = p.string(['auth', 'identity'], true);
  const mount = p.string(['auth', 'mount']) ?? 'jwt';
  return role !== undefined && identity !== undefined ? { method: 'jwt', mount, role, identity } : undefined;
}

const PARSERS: Record<'oidc' | 'aws' | 'gcp' | 'azure' | 'vault', (p: Reader) => IdentityConfig | undefined> = {
  oidc: parseOidc,
  aws: parseAws,
  gcp: parseGcp,
  azure: parseAzure,
  vault: parseVault,
};

/** The token identity an entry exchanges (aws, gcp, azure `identity`, vault jwt auth), if any. */
export function exchangedIdentity(i: IdentityConfig): string | undefined {
  if (i.type === 'aws' || i.type === 'gcp' || i.type === 'azure') return i.identity;
  return i.type === 'vault' && i.auth.method === 'jwt' ? i.auth.identity : undefined;
}

/** References between entries: aws/gcp/azure `identity` and vault jwt auth must name an identity that gives an ID token. */
function crossCheck(identities: IdentityConfig[], issues: IdentityIssue[]): void {
  const oidc = new Set(identities.filter(isTokenIdentity).map((i) => i.name));
  for (const i of identities) {
    const ref = exchangedIdentity(i);
    const path = i.type === 'vault' ? [i.name, 'auth', 'identity'] : [i.name, 'identity'];
    if (ref !== undefined && !oidc.has(ref)) {
      issues.push({ path, message: `'${ref}' is not an oidc, github-actions, token-file or token-env identity in this file${oidc.size ? `: expected ${[...oidc].join(', ')}` : ''}` });
    }
  }
}

/** The providers that name an identity entry, the entry type they need, and how. */
export const IDENTITY_PROVIDERS: Record<string, { type: IdentityConfig['type']; form: string }> = {
  'aws-sts': { type: 'aws', form: 'AWS#accessKeyId|secretAccessKey|sessionToken|expiration' },
  'aws-rds-iam': { type: 'aws', form: 'AWS:DBUSER@HOST:PORT' },
  'aws-secrets-manager': { type: 'aws', form: 'AWS:SECRET_ID[#FIELD]' },
  vault: { type: 'vault', form: 'VAULT:PATH#FIELD' },
  oidc: { type: 'oidc', form: 'NAME#access_token|id_token' },
  gcp: { type: 'gcp', form: 'NAME (a gcp entry)' },
  azure: { type: 'azure', form: 'NAME (an azure entry)' },
};

/** The entry name an identity-backed credential id refers to. */
export function identityOf(provider: string, id: string): string | undefined {
  if (provider === 'aws-sts' || provider === 'oidc') return id.split('#')[0];
  if (provider === 'gcp' || provider === 'azure') return id || undefined;
  if (provider in IDENTITY_PROVIDERS) {
    const at = id.indexOf(':');
    return at > 0 ? id.slice(0, at) : undefined;
  }
  return undefined;
}

/** A problem with a credential that names an identity entry, or undefined when fine. */
export function checkCredentialRef(provider: string, id: string, identities: IdentityConfig[]): string | undefined {
  const want = IDENTITY_PROVIDERS[provider];
  if (!want) return undefined;
  const name = identityOf(provider, id);
  if (!name) return `the id must have the form ${want.form}`;
  const entry = identities.find((i) => i.name === name);
  if (!entry) return `'${name}' is not an entry of \`identities:\` (${provider} ids have the form ${want.form})`;
  // A workload identity gives an ID token just as an oidc login does.
  if (want.type === 'oidc' && isWorkload(entry)) return id.endsWith('#id_token') ? undefined : `identity '${name}' has type ${entry.type}: it gives an ID token only (${name}#id_token)`;
  if (entry.type !== want.type) return `identity '${name}' has type ${entry.type}, but ${provider} needs a ${want.type} entry`;
  return undefined;
}

// ---- a small typed reader over plain data ----

class Reader {
  constructor(
    readonly name: string,
    readonly data: unknown,
    readonly issues: IdentityIssue[],
    readonly line: number,
  ) {}

  issue(path: string[], message: string): void {
    this.issues.push({ path: [this.name, ...path], message });
  }

  raw(path: string[]): unknown {
    let v: unknown = this.data;
    for (const k of path) v = isRecord(v) ? v[k] : undefined;
    return v;
  }

  onlyKeys(allowed: string[]): void {
    if (!isRecord(this.data)) return;
    for (const key of Object.keys(this.data)) {
      if (!allowed.includes(key)) this.issue([key], `unknown key '${key}': expected ${allowed.join(', ')}`);
    }
  }

  string(path: string[], required = false): string | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (required) this.issue(path, `missing \`${path[path.length - 1]}\``);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.issue(path, 'must be a non-empty string');
      return undefined;
    }
    return v;
  }

  url(path: string[], required = false): string | undefined {
    const v = this.string(path, required);
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      this.issue(path, 'must be an absolute http(s) URL');
      return undefined;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      this.issue(path, 'must be an http(s) URL');
      return undefined;
    }
    if (u.protocol === 'http:' && !isLoopbackHostname(u.hostname)) {
      this.issue(path, 'must use https (plain http is accepted only for 127.0.0.1, ::1 and localhost)');
      return undefined;
    }
    return v.replace(/\/+$/, '');
  }

  /** An optional `endpoints:` mapping of the given keys to http(s) URLs. */
  endpoints<K extends string>(keys: K[]): Partial<Record<K, string>> {
    const out: Partial<Record<K, string>> = {};
    const eps = this.raw(['endpoints']);
    if (eps === undefined) return out;
    if (!isRecord(eps)) {
      this.issue(['endpoints'], `must be a mapping with ${keys.join(', ')}`);
      return out;
    }
    for (const key of Object.keys(eps)) if (!(keys as string[]).includes(key)) this.issue(['endpoints', key], `unknown key '${key}': expected ${keys.join(', ')}`);
    for (const key of keys) {
      const url = this.url(['endpoints', key]);
      if (url) out[key] = url;
    }
    return out;
  }

  int(path: string[], min: number, max: number): number | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.issue(path, `must be a whole number from ${min} to ${max}`);
      return undefined;
    }
    return v;
  }

  stringList(path: string[]): string[] | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) return undefined;
    const list = typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s !== '')) {
      this.issue(path, 'must be a list of strings (or one space-separated string)');
      return undefined;
    }
    return list as string[];
  }

  /** A secret is never written in the file: it must be {from: PROVIDER, get: ID}. */
  secretRef(path: string[], required = false): CredentialSpec | undefined {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (required) this.issue(path, `missing \`${path[path.length - 1]}\` ({from: PROVIDER, get: ID})`);
      return undefined;
    }
    if (!isRecord(v) || typeof v.from !== 'string' || typeof v.get !== 'string' || !v.from || !v.get || Object.keys(v).length !== 2) {
      this.issue(path, 'must be {from: PROVIDER, get: ID} (secrets are not written in the config file)');
      return undefined;
    }
    if (v.from === 'literal') {
      this.issue(path, 'must come from a provider such as keychain, file or env, not a literal');
      return undefined;
    }
    return { provider: v.from, id: v.get, line: this.line };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isLoopbackHostname(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
