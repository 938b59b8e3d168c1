// The typed settings of the HTTP connectors, parsed once per service from `config:` and
// the credential keys. Four connector names share them:
//   http          our connector: a reverse proxy with `upstream:`, or a forward proxy without
//   basic_auth, generic_http, aws   Secretless Broker's forward-proxy connectors, whose
//                 configs load unchanged (they also take `upstream:` for reverse mode)
// The credential scheme (basic, bearer, templates, SigV4) follows from the connector
// name, or for `http` from the credentials given. Pure: no I/O.
import { compileTemplate, TemplateError, type CompiledTemplate } from './template.js';

export const HTTP_CONNECTORS = ['http', 'basic_auth', 'generic_http', 'aws'] as const;
export type HttpConnectorName = (typeof HTTP_CONNECTORS)[number];

export const HTTP_CONFIG_KEYS = [
  'upstream',
  'authenticateURLsMatching',
  'forceSSL',
  'headers',
  'queryParams',
  'credentialValidations',
  'verify',
  'region',
  'service',
  'maxSignedBodyBytes',
  'connectTimeoutMs',
  'headerTimeoutMs',
];

export type HttpMode =
  | { type: 'reverse'; upstream: URL }
  | { type: 'forward'; match: RegExp[]; forceSSL: boolean };

export type HttpAuth =
  | { type: 'basic' }
  | { type: 'bearer' }
  | { type: 'templates'; headers: [string, CompiledTemplate][]; queryParams: [string, CompiledTemplate][] }
  | { type: 'aws-sigv4'; region?: string; service?: string; maxSignedBodyBytes: number };

/** The `config:` block, typed; the auth mechanism is chosen with the credentials (chooseAuth). */
export interface HttpConfig {
  connector: HttpConnectorName;
  mode: HttpMode;
  /** Verify the upstream's certificate (system CAs plus the sslrootcert credential). */
  verify: boolean;
  /** Credential key to a pattern its value must match (Secretless credentialValidations). */
  validations: [string, RegExp][];
  headers: [string, CompiledTemplate][];
  queryParams: [string, CompiledTemplate][];
  aws: { region?: string; service?: string; maxSignedBodyBytes: number };
  connectTimeoutMs: number;
  /** A client must send a whole request head within this, or gets 408 (slowloris). */
  headerTimeoutMs: number;
}

/** A problem with a setting: `key` is the path below `config:` (or `credentials`). */
export interface SettingIssue {
  key: string;
  message: string;
}

const DEFAULT_MAX_SIGNED_BODY = 10 * 1024 * 1024;

type Issue = (key: string, message: string) => void;

/** `config` when every setting is fine; `draft` (the good parts) for checking against the credentials anyway. */
export function parseHttpConfig(connector: HttpConnectorName, config: Record<string, unknown>): { config?: HttpConfig; draft?: HttpConfig; issues: SettingIssue[] } {
  const issues: SettingIssue[] = [];
  const issue: Issue = (key, message) => void issues.push({ key, message });
  const mode = parseMode(config, issue);
  const verify = config.verify ?? true;
  if (typeof verify !== 'boolean') issue('verify', 'must be true or false (false turns off upstream certificate checks)');
  const validations: [string, RegExp][] = [];
  const cv = config.credentialValidations;
  if (cv !== undefined && cv !== null) {
    if (!isRecord(cv)) issue('credentialValidations', 'must be a mapping of credential name to a regular expression');
    else
      for (const [key, pattern] of Object.entries(cv)) {
        const re = regex(pattern);
        if (!re) issue(`credentialValidations.${key}`, 'must be a valid regular expression');
        else validations.push([key, re]);
      }
  }
  const connectTimeoutMs = config.connectTimeoutMs ?? 10_000;
  if (typeof connectTimeoutMs !== 'number' || !(connectTimeoutMs > 0)) issue('connectTimeoutMs', 'must be a positive number of milliseconds');
  const headerTimeoutMs = config.headerTimeoutMs ?? 20_000;
  if (typeof headerTimeoutMs !== 'number' || !(headerTimeoutMs > 0)) issue('headerTimeoutMs', 'must be a positive number of milliseconds');
  const headers = compileAll(config, 'headers', issue);
  const queryParams = compileAll(config, 'queryParams', issue);
  const aws = parseAws(config, issue);
  if (!mode) return { issues };
  const draft: HttpConfig = { connector, mode, verify: verify as boolean, validations, headers, queryParams, aws, connectTimeoutMs: connectTimeoutMs as number, headerTimeoutMs: headerTimeoutMs as number };
  return issues.length > 0 ? { draft, issues } : { config: draft, draft, issues };
}

/** Everything the loader reports for an http service: its settings, and how they fit its credentials. */
export function checkHttpService(connector: HttpConnectorName, config: Record<string, unknown>, credentials: string[]): SettingIssue[] {
  const parsed = parseHttpConfig(connector, config);
  if (!parsed.draft) return parsed.issues;
  return [...parsed.issues, ...chooseAuth(parsed.draft, credentials, config).issues];
}

function parseMode(config: Record<string, unknown>, issue: Issue): HttpMode | undefined {
  const forceSSL = config.forceSSL ?? false;
  if (typeof forceSSL !== 'boolean') issue('forceSSL', 'must be true or false');
  const patterns = config.authenticateURLsMatching;
  if (config.upstream !== undefined && config.upstream !== null) {
    if (patterns !== undefined) issue('authenticateURLsMatching', 'applies to forward-proxy mode only; with `upstream` every request goes to the upstream');
    if (config.forceSSL !== undefined) issue('forceSSL', 'applies to forward-proxy mode only; the scheme comes from `upstream`');
    const upstream = parseUpstream(config.upstream);
    if (typeof upstream === 'string') {
      issue('upstream', upstream);
      return undefined;
    }
    return { type: 'reverse', upstream };
  }
  const list = patterns === undefined || patterns === null ? [] : Array.isArray(patterns) ? patterns : [patterns];
  const match: RegExp[] = [];
  list.forEach((p, i) => {
    const re = regex(p);
    if (re) match.push(re);
    else issue(`authenticateURLsMatching.${i}`, 'must be a valid regular expression (matched against the request URL)');
  });
  return { type: 'forward', match, forceSSL: forceSSL === true };
}

/** Absolute http(s) URL without query, fragment or credentials; the path is a base. */
export function parseUpstream(value: unknown): URL | string {
  if (typeof value !== 'string' || value.trim() === '') return 'must be an http(s) URL such as https://api.example.com';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http(s) URL such as https://api.example.com';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username || url.password) return 'must not carry a user or password: give them as credentials';
  if (url.search || url.hash) return 'must not have a query string or fragment';
  return url;
}

/** The auth mechanism: from the connector name, or for `http` from the credentials given. */
export function chooseAuth(http: HttpConfig, credentials: string[], raw: Record<string, unknown> = {}): { auth?: HttpAuth; issues: SettingIssue[] } {
  const issues: SettingIssue[] = [];
  const issue: Issue = (key, message) => void issues.push({ key, message });
  const has = (k: string) => credentials.includes(k);
  const hasTemplates = http.headers.length > 0 || http.queryParams.length > 0 || raw.headers !== undefined || raw.queryParams !== undefined;
  const connector = http.connector;
  const kind =
    connector === 'basic_auth' ? 'basic'
    : connector === 'generic_http' ? 'templates'
    : connector === 'aws' ? 'aws-sigv4'
    : hasTemplates ? 'templates'
    : has('accessKeyId') || has('secretAccessKey') ? 'aws-sigv4'
    : has('token') ? 'bearer'
    : has('username') || has('password') ? 'basic'
    : undefined;
  if (kind !== 'templates' && hasTemplates) issue(raw.headers !== undefined ? 'headers' : 'queryParams', `header and query templates are for the generic_http and http connectors, not ${connector}`);
  if (kind !== 'aws-sigv4') for (const k of ['region', 'service', 'maxSignedBodyBytes']) if (raw[k] !== undefined) issue(k, 'applies to AWS SigV4 signing only (credentials accessKeyId and secretAccessKey)');
  for (const [key] of http.validations) if (!has(key)) issue(`credentialValidations.${key}`, `'${key}' is not a credential of this service`);
  const need = (...keys: string[]) => {
    const missing = keys.filter((k) => !has(k));
    if (missing.length > 0) issue('credentials', `missing credential${missing.length > 1 ? 's' : ''} ${missing.join(', ')} for ${kind} authentication`);
  };
  let auth: HttpAuth | undefined;
  switch (kind) {
    case undefined:
      issue('credentials', 'no credentials to add: give username and password (basic), token (bearer), accessKeyId and secretAccessKey (AWS SigV4), or `headers:` templates');
      break;
    case 'basic':
      need('username', 'password');
      auth = { type: 'basic' };
      break;
    case 'bearer':
      auth = { type: 'bearer' };
      break;
    case 'templates':
      if (raw.headers === undefined && raw.queryParams === undefined && http.headers.length + http.queryParams.length === 0) {
        issue('headers', `${connector} needs \`headers:\` or \`queryParams:\` templates, e.g. Authorization: Bearer {{ .token }}`);
      }
      for (const [key, list] of [['headers', http.headers], ['queryParams', http.queryParams]] as const) {
        for (const [name, t] of list) {
          const unknown = t.variables.filter((v) => !has(v));
          if (unknown.length > 0) issue(`${key}.${name}`, `unknown template variable${unknown.length > 1 ? 's' : ''} ${unknown.map((v) => `.${v}`).join(', ')}: the service's credentials are ${credentials.join(', ') || '(none)'}`);
        }
      }
      auth = { type: 'templates', headers: http.headers, queryParams: http.queryParams };
      break;
    case 'aws-sigv4':
      need('accessKeyId', 'secretAccessKey');
      auth = { type: 'aws-sigv4', ...http.aws };
      break;
  }
  return issues.length > 0 ? { issues } : { auth, issues };
}

function compileAll(config: Record<string, unknown>, key: 'headers' | 'queryParams', issue: Issue): [string, CompiledTemplate][] {
  const raw = config[key];
  if (raw === undefined || raw === null) return [];
  if (!isRecord(raw)) {
    issue(key, 'must be a mapping of name to template, e.g. Authorization: Bearer {{ .token }}');
    return [];
  }
  const out: [string, CompiledTemplate][] = [];
  for (const [name, source] of Object.entries(raw)) {
    const at = `${key}.${name}`;
    if (key === 'headers' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) issue(at, 'is not a valid HTTP header name');
    if (typeof source !== 'string') {
      issue(at, 'must be a template string, e.g. Bearer {{ .token }}');
      continue;
    }
    try {
      out.push([name, compileTemplate(source)]);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      issue(at, `invalid template: ${err.message}`);
    }
  }
  return out;
}

function parseAws(config: Record<string, unknown>, issue: Issue): HttpConfig['aws'] {
  const text = (k: string) => {
    const v = config[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !/^[a-z0-9-]+$/.test(v)) issue(k, `must be an AWS ${k} name such as ${k === 'region' ? 'eu-west-1' : 's3'}`);
    return typeof v === 'string' ? v : undefined;
  };
  const max = config.maxSignedBodyBytes ?? DEFAULT_MAX_SIGNED_BODY;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) issue('maxSignedBodyBytes', 'must be a whole number of bytes');
  const region = text('region');
  const service = text('service');
  return { ...(region ? { region } : {}), ...(service ? { service } : {}), maxSignedBodyBytes: max as number };
}

function regex(pattern: unknown): RegExp | undefined {
  if (typeof pattern !== 'string') return undefined;
  try {
    return new RegExp(pattern);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
