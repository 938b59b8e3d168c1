// secretless.yml version 2: parse and validate strictly, collecting every issue with its
// key path and position so one run tells the user everything that is wrong.
// Rule: messages may name keys, connectors and providers, never a credential's value.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode, Scalar, YAMLMap } from 'yaml';
import { formatListenAddress, isLoopbackHost, listenAddressesClash, parseListenAddress } from './listen-address.js';
import { checkCredentialRef, parseIdentities, type IdentityConfig } from '../identity/config.js';
import { ConfigError } from './types.js';
import type { BrokerConfig, ConfigIssue, ConnectorSpec, CredentialSpec, ListenAddress, ServiceConfig } from './types.js';

export interface ParseOptions {
  /** Shown in ConfigError messages: usually the file path. */
  source: string;
  connectors: ConnectorSpec[];
  /** Provider names usable in `from:`. `literal` is always accepted. */
  providers: string[];
}

const TOP_KEYS = ['version', 'services', 'identities'];
const SERVICE_KEYS = ['connector', 'protocol', 'listenOn', 'credentials', 'config', 'allowRemote'];
const CREDENTIAL_KEYS = ['from', 'get'];
const LITERAL = 'literal';
/** Path used for problems that belong to no key. */
const DOCUMENT = '(document)';

interface Ctx {
  doc: Document;
  lines: LineCounter;
  issues: ConfigIssue[];
  connectors: Map<string, ConnectorSpec>;
  providers: Set<string>;
}

/** Where an issue points: a node, or the parent's key node when something is missing. */
interface At {
  node: YamlNode | null | undefined;
  path: string;
  service?: string;
}

interface Entry {
  key: string;
  keyNode: Scalar;
  /** The value with aliases resolved; null for `? key` without a value. */
  value: YamlNode | null;
}

export function parseConfig(text: string, options: ParseOptions): BrokerConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: true });
  const ctx: Ctx = {
    doc,
    lines,
    issues: [],
    connectors: new Map(options.connectors.map((c) => [c.name, c])),
    providers: new Set([...options.providers, LITERAL]),
  };
  for (const err of [...doc.errors, ...doc.warnings]) {
    const offset = err.pos[0];
    const path = pathAt(doc.contents, offset);
    const service = path[0] === 'services' ? path[1] : undefined;
    addAt(ctx, offset, { path: path.join('.') || DOCUMENT, service }, `invalid YAML: ${yamlMessage(err.code, err.message)}`);
  }
  const badAliases = checkAliases(ctx);
  // A broken document yields a partial tree; validating it would only add noise.
  // Warnings (such as an unknown tag) leave the tree whole, so validation goes on.
  const services = doc.errors.length === 0 && badAliases === 0 ? parseTop(ctx) : [];
  const identities = doc.errors.length === 0 && badAliases === 0 ? parseIdentitySection(ctx, services) : [];
  if (ctx.issues.length > 0) throw new ConfigError(options.source, sortIssues(ctx.issues));
  return { version: '2', services, ...(identities.length > 0 ? { identities } : {}), source: options.source };
}

/** `identities:` is validated by broker/identity/config.ts; here it gets positions. */
function parseIdentitySection(ctx: Ctx, services: ServiceConfig[]): IdentityConfig[] {
  const root = ctx.doc.contents;
  const node = isMap(root) ? (root.get('identities', true) as YamlNode | undefined) : undefined;
  // A scalar value is shown where it is; a missing key or a mapping at its key.
  const at = (path: string[]): YamlNode | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const full = ['identities', ...path.slice(0, n)];
      const found = ctx.doc.getIn(full, true) as YamlNode | undefined;
      if (isScalar(found) && found.range) return found;
      const parent = ctx.doc.getIn(full.slice(0, -1), true);
      const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && String(p.key.value) === full[full.length - 1]) : undefined;
      if (pair && isScalar(pair.key)) return pair.key;
    }
    return undefined;
  };
  const { identities, issues } = parseIdentities({
    value: node && !isEmpty(node) ? node.toJS(ctx.doc, { maxAliasCount: 100 }) : undefined,
    lineOf: (path) => lineOf(ctx, at(path) ?? root!),
  });
  for (const issue of issues) add(ctx, { node: at(issue.path) ?? root, path: ['identities', ...issue.path].join('.') }, issue.message);
  // Credentials that name an identity entry must name one that exists and fits.
  if (issues.length === 0) {
    for (const s of services) {
      for (const [key, spec] of Object.entries(s.credentials)) {
        const problem = checkCredentialRef(spec.provider, spec.id, identities);
        const credNode = ctx.doc.getIn(['services', s.name, 'credentials', key, 'get'], true) as YamlNode | undefined;
        if (problem) add(ctx, { node: credNode ?? root, path: `services.${s.name}.credentials.${key}.get`, service: s.name }, problem);
      }
      // RDS accepts IAM tokens only over TLS; the pg connector's default (require) is fine.
      const sslmode = s.credentials.sslmode;
      const usesIam = Object.values(s.credentials).some((c) => c.provider === 'aws-rds-iam');
      if (usesIam && sslmode?.provider === 'literal' && ['disable', 'allow', 'prefer'].includes(sslmode.id)) {
        const node = ctx.doc.getIn(['services', s.name, 'credentials', 'sslmode'], true) as YamlNode | undefined;
        add(ctx, { node: node ?? root, path: `services.${s.name}.credentials.sslmode`, service: s.name }, 'aws-rds-iam tokens are only accepted over TLS: use require, verify-ca or verify-full');
      }
    }
  }
  return identities;
}

/** yaml quotes the bad escape it found; inside a quoted password that is part of a secret. */
function yamlMessage(code: string, message: string): string {
  if (code === 'BAD_DQ_ESCAPE') return 'invalid escape sequence in a double-quoted string';
  if (code === 'TAG_RESOLVE_FAILED') return `${message} (a credential from a provider is written {from: PROVIDER, get: ID})`;
  return message;
}

/** yaml leaves an alias to an undefined anchor unresolved without an error. */
function checkAliases(ctx: Ctx): number {
  let count = 0;
  visit(ctx.doc, {
    Alias: (_key, alias) => {
      if (alias.resolve(ctx.doc)) return;
      count++;
      const offset = alias.range?.[0] ?? 0;
      const path = pathAt(ctx.doc.contents, offset);
      const service = path[0] === 'services' ? path[1] : undefined;
      addAt(ctx, offset, { path: path.join('.') || DOCUMENT, service }, `invalid YAML: alias *${alias.source} has no matching anchor &${alias.source}`);
    },
  });
  return count;
}

function parseTop(ctx: Ctx): ServiceConfig[] {
  const root = ctx.doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    add(ctx, { node: root, path: DOCUMENT }, 'the file is empty: expected `version: 2` and a `services:` mapping');
    return [];
  }
  if (!isMap(root)) {
    add(ctx, { node: root, path: DOCUMENT }, 'the top level must be a mapping with `version: 2` and `services:`');
    return [];
  }
  const fields = fieldsOf(ctx, root, [], TOP_KEYS, (key) => topLevelHint(key));
  const top: At = { node: root, path: '' };
  checkVersion(ctx, fields.get('version'), top);
  const services = fields.get('services');
  if (!services) {
    add(ctx, { ...top, path: 'services' }, 'missing `services:` (a mapping of service name to settings; may be empty)');
    return [];
  }
  return parseServices(ctx, services);
}

function topLevelHint(key: string): string {
  const known = `expected ${TOP_KEYS.join(', ')}`;
  if (key === 'listeners' || key === 'handlers') {
    return `${known} (this looks like a Secretless version 1 file; only version 2 with \`services:\` is supported)`;
  }
  return known;
}

function checkVersion(ctx: Ctx, entry: Entry | undefined, top: At): void {
  if (!entry) {
    add(ctx, { ...top, path: 'version' }, 'missing `version: 2`');
    return;
  }
  const v = entry.value;
  // `2.0` and `0x2` also read as the number 2, but they are not what Secretless accepts.
  const ok = isScalar(v) && (v.value === '2' || (v.value === 2 && v.source === '2'));
  if (!ok) add(ctx, { node: v ?? entry.keyNode, path: 'version' }, 'unsupported version: only version "2" is supported');
}

function parseServices(ctx: Ctx, entry: Entry): ServiceConfig[] {
  if (isEmpty(entry.value)) return [];
  if (!isMap(entry.value)) {
    add(ctx, { node: entry.value, path: 'services' }, 'must be a mapping of service name to settings');
    return [];
  }
  const parsed: ServiceConfig[] = [];
  const listeners: { name: string; line: number; address: ListenAddress }[] = [];
  for (const svc of entriesOf(ctx, entry.value, ['services'])) {
    const result = parseService(ctx, svc);
    if (result.listenOn && result.listenNode) {
      checkClash(ctx, listeners, svc.key, result.listenOn, result.listenNode);
      listeners.push({ name: svc.key, line: lineOf(ctx, svc.keyNode), address: result.listenOn });
    }
    if (result.service) parsed.push(result.service);
  }
  return parsed;
}

function checkClash(
  ctx: Ctx,
  earlier: { name: string; line: number; address: ListenAddress }[],
  name: string,
  address: ListenAddress,
  node: YamlNode,
): void {
  const first = earlier.find((l) => listenAddressesClash(l.address, address));
  if (!first) return;
  add(
    ctx,
    { node, path: `services.${name}.listenOn`, service: name },
    `${formatListenAddress(address)} is already used by service '${first.name}' (line ${first.line}, ` +
      `${formatListenAddress(first.address)}); each service needs its own address`,
  );
}

interface ServiceResult {
  service?: ServiceConfig;
  listenOn?: ListenAddress;
  listenNode?: YamlNode;
}

function parseService(ctx: Ctx, svc: Entry): ServiceResult {
  const name = svc.key;
  const base = `services.${name}`;
  const here: At = { node: svc.keyNode, path: base, service: name };
  if (name === '') add(ctx, here, 'service names must not be empty');
  if (isEmpty(svc.value)) {
    add(ctx, here, 'the service has no settings: expected at least `connector` and `listenOn`');
    return {};
  }
  if (!isMap(svc.value)) {
    add(ctx, { ...here, node: svc.value }, 'a service must be a mapping with `connector`, `listenOn`, `credentials`, `config`');
    return {};
  }
  const before = ctx.issues.length;
  const fields = fieldsOf(ctx, svc.value, ['services', name], SERVICE_KEYS, () => `expected ${SERVICE_KEYS.join(', ')}`, name);
  const connector = parseConnector(ctx, fields, here);
  const spec = connector === undefined ? undefined : ctx.connectors.get(connector);
  const listen = parseListen(ctx, fields.get('listenOn'), here);
  const allowRemote = parseAllowRemote(ctx, fields.get('allowRemote'), here);
  const credentials = parseCredentials(ctx, fields.get('credentials'), here, spec);
  const config = parseConnectorConfig(ctx, fields.get('config'), here, spec);
  if (listen && listen.address.type === 'tcp' && !isLoopbackHost(listen.address.host) && !allowRemote) {
    add(
      ctx,
      { node: listen.node, path: `${base}.listenOn`, service: name },
      `${formatListenAddress(listen.address)} is not a loopback address, so other machines could connect and ` +
        `use this service's credentials; listen on 127.0.0.1 instead, or add \`allowRemote: true\` to the service if that is intended`,
    );
  }
  const result: ServiceResult = { listenOn: listen?.address, listenNode: listen?.node };
  if (ctx.issues.length > before || connector === undefined || !listen) return result;
  result.service = {
    name,
    connector,
    listenOn: listen.address,
    allowRemote,
    credentials,
    config,
    line: lineOf(ctx, svc.keyNode),
  };
  return result;
}

function parseConnector(ctx: Ctx, fields: Map<string, Entry>, here: At): string | undefined {
  const main = fields.get('connector');
  const alias = fields.get('protocol');
  if (main && alias) {
    add(ctx, { ...here, node: alias.keyNode, path: `${here.path}.protocol` }, '`protocol` is the older name of `connector`: use one, not both');
  }
  const entry = main ?? alias;
  const known = [...ctx.connectors.keys()].join(', ');
  if (!entry) {
    add(ctx, { ...here, path: `${here.path}.connector` }, `missing \`connector\`: expected one of ${known}`);
    return undefined;
  }
  const at: At = { ...here, node: entry.value ?? entry.keyNode, path: `${here.path}.${entry.key}` };
  const name = stringValue(entry.value);
  if (name === undefined) {
    add(ctx, at, `must be a connector name: one of ${known}`);
    return undefined;
  }
  if (!ctx.connectors.has(name)) {
    add(ctx, at, `unknown connector '${name}': expected one of ${known}`);
    return undefined;
  }
  return name;
}

function parseListen(ctx: Ctx, entry: Entry | undefined, here: At): { address: ListenAddress; node: YamlNode } | undefined {
  if (!entry) {
    add(ctx, { ...here, path: `${here.path}.listenOn` }, 'missing `listenOn`: e.g. tcp://127.0.0.1:5432 or unix:///tmp/pg.sock');
    return undefined;
  }
  const node = entry.value ?? entry.keyNode;
  const at: At = { ...here, node, path: `${here.path}.listenOn` };
  // A bare port (`listenOn: 5432`) is a number; parsing its text gives the better hint.
  const v = entry.value;
  const text = isScalar(v) && v.value !== null && typeof v.value !== 'symbol' ? scalarText(v) : undefined;
  if (text === undefined) {
    add(ctx, at, 'must be a string like tcp://127.0.0.1:5432 or unix:///tmp/pg.sock');
    return undefined;
  }
  try {
    return { address: parseListenAddress(text), node };
  } catch (err) {
    add(ctx, at, `invalid listenOn: ${(err as Error).message}`);
    return undefined;
  }
}

function parseAllowRemote(ctx: Ctx, entry: Entry | undefined, here: At): boolean {
  if (!entry) return false;
  const v = entry.value;
  if (isScalar(v) && typeof v.value === 'boolean') return v.value;
  add(ctx, { ...here, node: v ?? entry.keyNode, path: `${here.path}.allowRemote` }, 'must be true or false');
  return false;
}

function parseCredentials(
  ctx: Ctx,
  entry: Entry | undefined,
  here: At,
  spec: ConnectorSpec | undefined,
): Record<string, CredentialSpec> {
  const path = `${here.path}.credentials`;
  const credentials: Record<string, CredentialSpec> = {};
  if (entry && !isEmpty(entry.value) && !isMap(entry.value)) {
    add(ctx, { ...here, node: entry.value, path }, 'must be a mapping of credential name to a value or {from, get}');
    return credentials;
  }
  const items = entry && isMap(entry.value) ? entriesOf(ctx, entry.value, ['services', here.service!, 'credentials'], here.service) : [];
  for (const item of items) {
    const at: At = { ...here, node: item.keyNode, path: `${path}.${item.key}` };
    if (item.key === '') add(ctx, at, 'credential names must not be empty');
    if (spec && spec.knownCredentials !== 'any' && !spec.knownCredentials.includes(item.key)) {
      add(ctx, at, `unknown credential '${item.key}' for connector '${spec.name}': expected ${list(spec.knownCredentials)}`);
    }
    const credential = parseCredential(ctx, item, at);
    if (credential) credentials[item.key] = credential;
    const problem = credential?.provider === LITERAL ? spec?.checkLiteral?.(item.key, credential.id) : undefined;
    if (problem) add(ctx, { ...at, node: item.value ?? item.keyNode }, problem);
  }
  const missing = spec ? spec.requiredCredentials.filter((k) => !items.some((i) => i.key === k)) : [];
  if (missing.length > 0) {
    const node = entry ? entry.keyNode : here.node;
    const s = missing.length === 1 ? '' : 's';
    add(ctx, { ...here, node, path }, `missing required credential${s} for connector '${spec!.name}': ${missing.join(', ')}`);
  }
  return credentials;
}

/** A scalar is a literal; a mapping is {from: provider, get: id}. */
function parseCredential(ctx: Ctx, item: Entry, at: At): CredentialSpec | undefined {
  const v = item.value;
  if (isScalar(v) && v.value !== null) {
    return { provider: LITERAL, id: scalarText(v), line: lineOf(ctx, v) };
  }
  if (isEmpty(v)) {
    add(ctx, at, `credential '${item.key}' has no value: give a value or {from: PROVIDER, get: ID} (quote a literal null)`);
    return undefined;
  }
  if (!isMap(v)) {
    add(ctx, { ...at, node: v }, `credential '${item.key}' must be a value or a mapping {from: PROVIDER, get: ID}`);
    return undefined;
  }
  const path = ['services', at.service!, 'credentials', item.key];
  const fields = fieldsOf(ctx, v, path, CREDENTIAL_KEYS, () => 'expected from, get', at.service);
  const provider = credentialField(ctx, fields, 'from', at);
  const id = credentialField(ctx, fields, 'get', at);
  if (provider !== undefined && !ctx.providers.has(provider)) {
    const node = fields.get('from')!.value;
    add(ctx, { ...at, node, path: `${at.path}.from` }, `unknown provider '${provider}': expected ${list([...ctx.providers])}`);
    return undefined;
  }
  if (provider === undefined || id === undefined) return undefined;
  return { provider, id, line: lineOf(ctx, v) };
}

function credentialField(ctx: Ctx, fields: Map<string, Entry>, key: 'from' | 'get', at: At): string | undefined {
  const entry = fields.get(key);
  const path = `${at.path}.${key}`;
  const what = key === 'from' ? 'a provider name' : 'the credential id to fetch';
  if (!entry) {
    add(ctx, { ...at, path }, `missing \`${key}\` (${what})`);
    return undefined;
  }
  const v = entry.value;
  const text = isScalar(v) && v.value !== null && typeof v.value !== 'symbol' ? scalarText(v) : undefined;
  if (text === undefined || text === '') {
    add(ctx, { ...at, node: v ?? entry.keyNode, path }, `must be ${what} (a non-empty string)`);
    return undefined;
  }
  return text;
}

function parseConnectorConfig(ctx: Ctx, entry: Entry | undefined, here: At, spec: ConnectorSpec | undefined): Record<string, unknown> {
  const path = `${here.path}.config`;
  const config: Record<string, unknown> = {};
  if (!entry || isEmpty(entry.value)) return config;
  if (!isMap(entry.value)) {
    add(ctx, { ...here, node: entry.value, path }, 'must be a mapping of connector settings');
    return config;
  }
  for (const item of entriesOf(ctx, entry.value, ['services', here.service!, 'config'], here.service)) {
    const at: At = { ...here, node: item.keyNode, path: `${path}.${item.key}` };
    if (spec && !spec.configKeys.includes(item.key)) {
      const expected = spec.configKeys.length > 0 ? `expected ${list(spec.configKeys)}` : 'it takes no settings';
      add(ctx, at, `unknown setting '${item.key}' for connector '${spec.name}': ${expected}`);
      continue;
    }
    try {
      config[item.key] = item.value === null ? null : item.value.toJS(ctx.doc, { maxAliasCount: 100 });
    } catch (err) {
      add(ctx, { ...at, node: item.value }, `could not read the value: ${(err as Error).message}`);
      continue;
    }
    const problem = spec?.checkSetting?.(item.key, config[item.key]);
    if (problem) add(ctx, { ...at, node: item.value ?? item.keyNode }, problem);
  }
  return config;
}

// ---- YAML tree helpers ----

/** A mapping's entries keyed by name, reporting keys outside `allowed`. */
function fieldsOf(
  ctx: Ctx,
  map: YAMLMap,
  path: string[],
  allowed: string[],
  hint: (key: string) => string,
  service?: string,
): Map<string, Entry> {
  const fields = new Map<string, Entry>();
  for (const entry of entriesOf(ctx, map, path, service)) {
    if (!allowed.includes(entry.key)) {
      add(ctx, { node: entry.keyNode, path: [...path, entry.key].join('.'), service }, `unknown key '${entry.key}': ${hint(entry.key)}`);
      continue;
    }
    fields.set(entry.key, entry);
  }
  return fields;
}

/** Entries of a mapping with string keys, aliases resolved and `<<` merge keys expanded. */
function entriesOf(ctx: Ctx, map: YAMLMap, path: string[], service?: string, depth = 0): Entry[] {
  const own: Entry[] = [];
  const merged: Entry[] = [];
  for (const pair of map.items) {
    const keyNode = pair.key as YamlNode | null;
    if (isScalar(keyNode) && isMergeKey(keyNode)) {
      merged.push(...mergeSources(ctx, pair.value as YamlNode | null, path, service, depth));
      continue;
    }
    if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
      add(ctx, { node: keyNode ?? map, path: path.join('.') || DOCUMENT, service }, 'keys must be plain strings');
      continue;
    }
    own.push({ key: scalarText(keyNode), keyNode, value: deref(ctx, pair.value as YamlNode | null) });
  }
  // Explicit keys win over merged ones; among merge sources the first wins (YAML merge spec).
  const seen = new Set(own.map((e) => e.key));
  for (const entry of merged) {
    if (seen.has(entry.key)) continue;
    seen.add(entry.key);
    own.push(entry);
  }
  return own;
}

function isMergeKey(key: Scalar): boolean {
  return typeof key.value === 'symbol' && key.value.description === '<<';
}

function mergeSources(ctx: Ctx, value: YamlNode | null, path: string[], service: string | undefined, depth: number): Entry[] {
  const at: At = { node: value, path: [...path, '<<'].join('.'), service };
  if (depth > 10) {
    add(ctx, at, 'merge keys (<<) are nested too deeply or refer to their own mapping');
    return [];
  }
  const resolved = deref(ctx, value);
  const sources = isSeq(resolved) ? resolved.items.map((i) => deref(ctx, i as YamlNode | null)) : [resolved];
  const entries: Entry[] = [];
  for (const source of sources) {
    if (isMap(source)) entries.push(...entriesOf(ctx, source, path, service, depth + 1));
    else add(ctx, at, 'a merge key (<<) must refer to a mapping or a list of mappings');
  }
  return entries;
}

function deref(ctx: Ctx, node: YamlNode | null): YamlNode | null {
  if (!isAlias(node)) return node;
  return (node.resolve(ctx.doc) as YamlNode | undefined) ?? null;
}

function isEmpty(node: YamlNode | null | undefined): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

function stringValue(node: YamlNode | null): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
}

/** A scalar as the user typed it: `0123` stays "0123", `1e3` stays "1e3". */
function scalarText(node: Scalar): string {
  if (typeof node.value === 'string') return node.value;
  if (node.type === 'PLAIN' && node.source !== undefined) return node.source;
  return String(node.value);
}

/** Key path to the innermost pair whose key or value contains `offset`. */
function pathAt(node: unknown, offset: number): string[] {
  if (!isMap(node) && !isSeq(node)) return [];
  for (const [index, item] of node.items.entries()) {
    if (isMap(node)) {
      const pair = item as { key: YamlNode | null; value: YamlNode | null };
      const keyText = isScalar(pair.key) ? String(pair.key.source ?? pair.key.value) : '?';
      if (contains(pair.key, offset)) return [keyText];
      if (contains(pair.value, offset)) return [keyText, ...pathAt(pair.value, offset)];
    } else if (contains(item as YamlNode, offset)) {
      return [String(index), ...pathAt(item, offset)];
    }
  }
  return [];
}

function contains(node: YamlNode | null | undefined, offset: number): boolean {
  const range = node?.range;
  // Ranges end after trailing whitespace, so the end offset belongs to what follows.
  return !!range && offset >= range[0] && (offset < range[2] || offset === range[0]);
}

// ---- issues ----

function lineOf(ctx: Ctx, node: YamlNode): number {
  return ctx.lines.linePos(node.range?.[0] ?? 0).line;
}

function add(ctx: Ctx, at: At, message: string): void {
  addAt(ctx, at.node?.range?.[0] ?? 0, at, message);
}

function addAt(ctx: Ctx, offset: number, at: Omit<At, 'node'>, message: string): void {
  const pos = ctx.lines.linePos(offset);
  // linePos reports line 0 for offsets before the first newline of a one-line file.
  const issue: ConfigIssue = { path: at.path, line: Math.max(pos.line, 1), column: Math.max(pos.col, 1), message };
  if (at.service !== undefined) issue.service = at.service;
  ctx.issues.push(issue);
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

function list(items: string[]): string {
  return items.length > 0 ? items.join(', ') : '(none)';
}
