// secretless.yml version 2: parse and validate strictly, collecting every issue with its
// key path and position so one run tells the user everything that is wrong.
// Rule: messages may name keys, connectors and providers, never a credential's value.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Alias, Document, Node as YamlNode, Scalar, YAMLMap } from 'yaml';
import { createClashIndex, formatListenAddress, isLoopbackHost, parseListenAddress } from './listen-address.js';
import type { ClashIndex } from './listen-address.js';
import { checkCredentialRef, parseIdentities, type IdentityConfig } from '../identity/config.js';
import { closest, didYouMean } from '../suggest.js';
import { ConfigError } from './types.js';
import { APPROVAL_MODES, brokerSettingsSpec, type ApprovalMode, type BrokerSettings } from './broker-settings.js';
import type { BrokerConfig, ConfigIssue, ConnectorSpec, CredentialSpec, ListenAddress, ServiceConfig } from './types.js';

export interface ParseOptions {
  /** Shown in ConfigError messages: usually the file path. */
  source: string;
  connectors: ConnectorSpec[];
  /** Provider names usable in `from:`. `literal` is always accepted. */
  providers: string[];
}

const TOP_KEYS = ['version', 'services', 'identities', 'settings'];
const SERVICE_KEYS = ['connector', 'protocol', 'listenOn', 'credentials', 'config', 'allowRemote', 'allowUsers', 'allowAnyUser', 'verboseClientErrors', 'approval'];
const CREDENTIAL_KEYS = ['from', 'get'];
const LITERAL = 'literal';
/** Path used for problems that belong to no key. */
const DOCUMENT = '(document)';

interface Ctx {
  doc: Document;
  lines: LineCounter;
  issues: ConfigIssue[];
  /** Every issue found, also those past MAX_ISSUES that are not kept. */
  issueCount: number;
  connectors: Map<string, ConnectorSpec>;
  providers: Set<string>;
  /** Entries of mappings used as merge sources, computed once: a source aliased N times costs one expansion. */
  mergeCache: Map<YAMLMap, Entry[]>;
  /** Merged entries still allowed (mergeBudget()); below zero once the error was reported. */
  mergeBudget: number;
  mergeLimit: number;
  /** What each alias refers to (checkTree); yaml's Alias.resolve walks the whole document per call. */
  aliases: Map<Alias, YamlNode | undefined>;
  /** The top-level `settings:` entry, found by parseTop. */
  settingsEntry?: Entry;
}

/**
 * Merge keys copy entries: even with each source expanded once, N merges of a source with
 * K keys cost N x K, so a few KB of `<<` could hold the broker's event loop for minutes.
 * The budget grows with the file, keeping validation linear in its size: 20,000 services
 * that each merge 15 shared keys (300k copies, 160k lines) are far inside it.
 */
export function mergeBudget(lineCount: number): number {
  return 100_000 + 10 * lineCount;
}
/** Issues kept and shown; a merge of many unknown keys into many services would otherwise list millions. */
export const MAX_ISSUES = 200;

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
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: false });
  const ctx: Ctx = {
    doc,
    lines,
    issues: [],
    issueCount: 0,
    connectors: new Map(options.connectors.map((c) => [c.name, c])),
    providers: new Set([...options.providers, LITERAL]),
    mergeCache: new Map(),
    mergeBudget: 0,
    mergeLimit: 0,
    aliases: new Map(),
  };
  ctx.mergeLimit = ctx.mergeBudget = mergeBudget(lines.lineStarts.length);
  for (const err of [...doc.errors, ...doc.warnings]) {
    addAt(ctx, err.pos[0], problemPath(ctx, err.pos[0]), `invalid YAML: ${yamlMessage(err.code)}`);
  }
  const treeProblems = checkTree(ctx);
  // A broken document yields a partial tree; validating it would only add noise.
  // Warnings (such as an unknown tag) leave the tree whole, so validation goes on.
  const whole = doc.errors.length === 0 && treeProblems === 0;
  const services = whole ? parseTop(ctx) : [];
  const identities = whole ? parseIdentitySection(ctx, services) : [];
  const settings = whole ? parseSettingsSection(ctx) : undefined;
  if (ctx.issueCount > 0) throw new ConfigError(options.source, sortIssues(ctx));
  return { version: '2', services, ...(identities.length > 0 ? { identities } : {}), ...(settings ? { settings } : {}), source: options.source };
}

/** `settings:` (broker-wide defaults), checked key by key like a connector's `config:`. */
function parseSettingsSection(ctx: Ctx): BrokerSettings | undefined {
  const entry = ctx.settingsEntry;
  if (!entry) return undefined;
  const raw = parseSettingsMap(ctx, entry, ['settings'], { node: entry.keyNode, path: 'settings' }, brokerSettingsSpec, 'the broker');
  try {
    return brokerSettingsSpec.parseSettings(raw);
  } catch {
    return undefined; // reported above, key by key
  }
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
  let value: unknown;
  try {
    value = node && !isEmpty(node) ? node.toJS(ctx.doc, { maxAliasCount: 100 }) : undefined;
  } catch (err) {
    // yaml refuses alias/merge bombs here ("Excessive alias count ...").
    add(ctx, { node, path: 'identities' }, `could not read the value: ${(err as Error).message}`);
    return [];
  }
  const { identities, issues } = parseIdentities({
    value,
    lineOf: (path) => lineOf(ctx, at(path) ?? root!),
  });
  for (const issue of issues) add(ctx, { node: at(issue.path) ?? root, path: ['identities', ...issue.path].join('.') }, issue.message);
  // Credentials that name an identity entry must name one that exists and fits.
  if (issues.length === 0) {
    for (const s of services) {
      for (const [key, spec] of Object.entries(s.credentials)) {
        const problem = checkCredentialRef(spec.provider, spec.id, identities);
        if (!problem) continue;
        // getIn scans each mapping: only worth it for the rare problem.
        const credNode = ctx.doc.getIn(['services', s.name, 'credentials', key, 'get'], true) as YamlNode | undefined;
        add(ctx, { node: credNode ?? root, path: `services.${s.name}.credentials.${key}.get`, service: s.name }, problem);
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

/**
 * yaml's own messages quote what they could not read (a tag, a block scalar header, an
 * escape), and an unquoted literal password starting with !, *, |, > or "- " is exactly
 * that text. So each code gets our wording, which never contains the document's text.
 */
const YAML_MESSAGES: Record<string, string> = {
  ALIAS_PROPS: 'an alias (*name) cannot have an anchor or a tag',
  BAD_ALIAS: 'invalid alias',
  BAD_DIRECTIVE: 'invalid % directive',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'anchors (&) and tags (!) must come after the - or ? indicator',
  BAD_SCALAR_START: 'a plain value cannot start with this character',
  BLOCK_AS_IMPLICIT_KEY: 'a block sequence or mapping cannot be used as a key',
  BLOCK_IN_FLOW: 'a block sequence or mapping cannot be inside {} or []',
  DUPLICATE_KEY: 'map keys must be unique',
  KEY_OVER_1024_CHARS: 'a key on one line may be at most 1024 characters',
  MISSING_CHAR: 'a character is missing (a closing quote or bracket, a comma, or the space after a colon)',
  MULTILINE_IMPLICIT_KEY: 'a key without ? must be on one line',
  MULTIPLE_ANCHORS: 'a value can have only one anchor (&)',
  MULTIPLE_DOCS: 'only one YAML document is allowed: remove the second ---',
  MULTIPLE_TAGS: 'a value can have only one tag (!)',
  NON_STRING_KEY: 'keys must be plain strings',
  RESOURCE_EXHAUSTION: 'too many aliases or merges',
  TAB_AS_INDENT: 'tabs cannot be used for indentation',
  TAG_RESOLVE_FAILED: 'unknown tag (!) (a credential from a provider is written {from: PROVIDER, get: ID})',
  UNEXPECTED_TOKEN: 'unexpected text for this position',
  BAD_COLLECTION_TYPE: 'the tag (!) does not fit this kind of value',
};
const QUOTE_HINT = '; quote a literal value that starts with !, *, &, |, >, -, @, % or `';

/** Codes that an unquoted literal starting with a YAML indicator character produces. */
const INDICATOR_CODES = new Set(['BAD_ALIAS', 'BAD_SCALAR_START', 'BLOCK_AS_IMPLICIT_KEY', 'MISSING_CHAR', 'TAG_RESOLVE_FAILED', 'UNEXPECTED_TOKEN']);

export function yamlMessage(code: string): string {
  const message = YAML_MESSAGES[code] ?? `the YAML parser could not read this (${code})`;
  return INDICATOR_CODES.has(code) ? message + QUOTE_HINT : message;
}

/**
 * The key path of a YAML problem, cut at the credential: in a broken document a secret can
 * become a key (`password: - S3cret` reads as a sequence with the key S3cret).
 */
function problemPath(ctx: Ctx, offset: number): { path: string; service?: string } {
  let path = pathAt(ctx.doc.contents, offset);
  // A credential's name is kept when the problem is in its value, not when the key itself is the problem.
  if (path[0] === 'services' && path[2] === 'credentials') path = path.slice(0, path[4] === KEY_HIT ? 3 : 4);
  if (path[0] === 'identities') path = path.slice(0, path[2] === KEY_HIT ? 1 : 2);
  path = path.filter((p) => p !== KEY_HIT);
  return { path: path.join('.') || DOCUMENT, service: path[0] === 'services' ? path[1] : undefined };
}

/**
 * What yaml leaves to us, in one linear walk: an alias to an undefined anchor is left
 * unresolved without an error, and duplicate keys are checked here because yaml's own
 * check (uniqueKeys) compares each key with every earlier one: quadratic in the number
 * of services.
 */
function checkTree(ctx: Ctx): number {
  let count = 0;
  const problem = (offset: number, message: string): void => {
    count++;
    if (ctx.issues.length >= MAX_ISSUES) return void ctx.issueCount++;
    addAt(ctx, offset, problemPath(ctx, offset), `invalid YAML: ${message}`);
  };
  // As in yaml's Alias.resolve: the last node with that anchor before the alias, in document order.
  const anchors = new Map<string, YamlNode>();
  visit(ctx.doc, {
    Node: (_key, node) => {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        ctx.aliases.set(node, target);
        // The name is not quoted: `password: *S3cret` is a literal written without quotes.
        if (!target) problem(node.range?.[0] ?? 0, `an alias (*) has no matching anchor (&)${QUOTE_HINT}`);
        return;
      }
      if (node.anchor) anchors.set(node.anchor, node);
      if (!isMap(node)) return;
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) problem(pair.key.range?.[0] ?? 0, YAML_MESSAGES.DUPLICATE_KEY!);
        seen.add(pair.key.value);
      }
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
  ctx.settingsEntry = fields.get('settings');
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
  const listeners = createClashIndex<Listener>();
  for (const svc of entriesOf(ctx, entry.value, ['services'])) {
    const result = parseService(ctx, svc);
    if (result.listenOn && result.listenNode) {
      checkClash(ctx, listeners, svc.key, result.listenOn, result.listenNode);
      listeners.add(result.listenOn, { name: svc.key, line: lineOf(ctx, svc.keyNode), address: result.listenOn });
    }
    if (result.service) parsed.push(result.service);
  }
  return parsed;
}

interface Listener {
  name: string;
  line: number;
  address: ListenAddress;
}

function checkClash(ctx: Ctx, earlier: ClashIndex<Listener>, name: string, address: ListenAddress, node: YamlNode): void {
  const first = earlier.first(address);
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
  const before = ctx.issueCount;
  const fields = fieldsOf(ctx, svc.value, ['services', name], SERVICE_KEYS, () => `expected ${SERVICE_KEYS.join(', ')}`, name);
  const connector = parseConnector(ctx, fields, here);
  const spec = connector === undefined ? undefined : ctx.connectors.get(connector);
  const listen = parseListen(ctx, fields.get('listenOn'), here);
  const allowRemote = parseFlag(ctx, fields.get('allowRemote'), here) ?? false;
  const verboseClientErrors = parseFlag(ctx, fields.get('verboseClientErrors'), here);
  const access = parseAccess(ctx, fields, here, listen?.address, allowRemote);
  const approval = parseApproval(ctx, fields.get('approval'), here);
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
  if (spec?.checkService && ctx.issues.length === before) {
    for (const problem of spec.checkService({ config, credentials: Object.keys(credentials) })) {
      const path = problem.key === 'credentials' ? ['credentials'] : ['config', ...problem.key.split('.')];
      add(ctx, { ...here, node: nodeAt(ctx, ['services', name, ...path]) ?? svc.keyNode, path: `${base}.${path.join('.')}` }, problem.message);
    }
  }
  const result: ServiceResult = { listenOn: listen?.address, listenNode: listen?.node };
  if (ctx.issueCount > before || connector === undefined || !listen) return result;
  result.service = {
    name,
    connector,
    listenOn: listen.address,
    allowRemote,
    ...access,
    ...(verboseClientErrors === undefined ? {} : { verboseClientErrors }),
    ...(approval === undefined ? {} : { approval }),
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
    add(ctx, at, `unknown connector '${name}'${didYouMean(name, [...ctx.connectors.keys()])}: expected one of ${known}`);
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

/**
 * Who besides the broker's user may connect: `allowUsers` (uids or login names) and
 * `allowAnyUser`. Only TCP listeners check owners (a Unix socket is 0600), and a remote
 * listener must say who may use it, since other machines' users are unknown here.
 */
function parseAccess(ctx: Ctx, fields: Map<string, Entry>, here: At, listen: ListenAddress | undefined, allowRemote: boolean): Pick<ServiceConfig, 'allowUsers' | 'allowAnyUser'> {
  const anyEntry = fields.get('allowAnyUser');
  const usersEntry = fields.get('allowUsers');
  const allowAnyUser = parseFlag(ctx, anyEntry, here);
  const allowUsers = usersEntry ? parseUserList(ctx, usersEntry, here) : undefined;
  if (listen?.type === 'unix') {
    for (const entry of [usersEntry, anyEntry]) {
      if (entry) add(ctx, { ...here, node: entry.keyNode, path: `${here.path}.${entry.key}` }, `applies to tcp listeners only: a unix socket is 0600, so only the broker's user can connect to it`);
    }
  } else if (allowRemote && listen && !isLoopbackHost(listen.host) && allowAnyUser === undefined && !usersEntry) {
    const entry = fields.get('allowRemote')!;
    add(
      ctx,
      { ...here, node: entry.keyNode, path: `${here.path}.allowRemote` },
      'a remote listener must say who may use it: add `allowAnyUser: true` (anyone who can reach the port, including other machines, whose users the broker cannot tell) or `allowUsers: [...]` (local users only)',
    );
  }
  return { ...(allowUsers ? { allowUsers } : {}), ...(allowAnyUser === undefined ? {} : { allowAnyUser }) };
}

function parseUserList(ctx: Ctx, entry: Entry, here: At): (number | string)[] | undefined {
  const at: At = { ...here, node: entry.value ?? entry.keyNode, path: `${here.path}.allowUsers` };
  const items = isSeq(entry.value) ? entry.value.items.map((i) => deref(ctx, i as YamlNode | null)) : undefined;
  if (!items) {
    add(ctx, at, 'must be a list of user names or uids, e.g. [bob, 1001]');
    return undefined;
  }
  const users: (number | string)[] = [];
  for (const [i, item] of items.entries()) {
    const v = isScalar(item) ? item.value : undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) users.push(v);
    else if (typeof v === 'string' && v.trim() !== '' && !/\s/.test(v)) users.push(/^\d+$/.test(v) ? Number(v) : v);
    else add(ctx, { ...at, node: item ?? at.node, path: `${at.path}.${i}` }, 'must be a user name or a uid (a whole number)');
  }
  return users;
}

/** A true/false service setting; undefined when absent (or wrong, which is reported). */
function parseFlag(ctx: Ctx, entry: Entry | undefined, here: At): boolean | undefined {
  if (!entry) return undefined;
  const v = entry.value;
  if (isScalar(v) && typeof v.value === 'boolean') return v.value;
  add(ctx, { ...here, node: v ?? entry.keyNode, path: `${here.path}.${entry.key}` }, 'must be true or false');
  return undefined;
}

function parseApproval(ctx: Ctx, entry: Entry | undefined, here: At): ApprovalMode | undefined {
  if (!entry) return undefined;
  const v = stringValue(entry.value);
  if (v !== undefined && (APPROVAL_MODES as readonly string[]).includes(v)) return v as ApprovalMode;
  add(ctx, { ...here, node: entry.value ?? entry.keyNode, path: `${here.path}.approval` }, `must be ${APPROVAL_MODES.map((m) => `'${m}'`).join(' or ')}${v ? didYouMean(v, [...APPROVAL_MODES]) : ''}`);
  return undefined;
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
      add(ctx, at, `unknown credential '${item.key}' for connector '${spec.name}'${didYouMean(item.key, spec.knownCredentials)}: expected ${list(spec.knownCredentials)}`);
    }
    // Connectors that pass unknown keys on (pg: startup parameters) still catch a typo of a key they use.
    const typo = spec?.form?.extraCredentials ? nearMiss(item.key, spec) : undefined;
    if (typo) {
      add(ctx, at, `unknown credential '${item.key}' for connector '${spec!.name}' (did you mean '${typo}'?): other keys are ${spec!.form!.extraCredentials}, and this one looks like a typo`);
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
  // `password: {S3cret}` is a mapping with the key S3cret: its keys are not quoted.
  const fields = fieldsOf(ctx, v, path, CREDENTIAL_KEYS, () => 'expected from, get', at.service, false);
  const provider = credentialField(ctx, fields, 'from', at);
  const id = credentialField(ctx, fields, 'get', at);
  if (provider !== undefined && !ctx.providers.has(provider)) {
    const node = fields.get('from')!.value;
    add(ctx, { ...at, node, path: `${at.path}.from` }, `unknown provider '${provider}'${didYouMean(provider, [...ctx.providers])}: expected ${list([...ctx.providers])}`);
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
  return parseSettingsMap(ctx, entry, ['services', here.service!, 'config'], { ...here, path: `${here.path}.config` }, spec, `connector '${spec?.name}'`);
}

/** A mapping of settings checked key by key (a connector's `config:`, the top-level `settings:`); `at.path` is the mapping's path. */
function parseSettingsMap(
  ctx: Ctx,
  entry: Entry | undefined,
  keyPath: string[],
  at: At,
  spec: Pick<ConnectorSpec, 'configKeys' | 'checkSetting' | 'unsupportedSettings'> | undefined,
  owner: string,
): Record<string, unknown> {
  const path = at.path;
  const here = at;
  const config: Record<string, unknown> = {};
  if (!entry || isEmpty(entry.value)) return config;
  if (!isMap(entry.value)) {
    add(ctx, { ...here, node: entry.value, path }, `must be a mapping of ${keyPath[0] === 'settings' ? 'broker' : 'connector'} settings`);
    return config;
  }
  for (const item of entriesOf(ctx, entry.value, keyPath, here.service)) {
    const at: At = { ...here, node: item.keyNode, path: `${path}.${item.key}` };
    const unsupported = spec?.unsupportedSettings?.[item.key];
    if (unsupported) {
      add(ctx, at, unsupported);
      continue;
    }
    if (spec && !spec.configKeys.includes(item.key)) {
      const expected = spec.configKeys.length > 0 ? `expected ${list(spec.configKeys)}` : 'it takes no settings';
      add(ctx, at, `unknown setting '${item.key}' for ${owner}${didYouMean(item.key, spec.configKeys)}: ${expected}`);
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

/** The deepest existing node along path (a value, else its key), for positions. */
function nodeAt(ctx: Ctx, path: string[]): YamlNode | undefined {
  for (let n = path.length; n > 0; n--) {
    const found = ctx.doc.getIn(path.slice(0, n), true) as YamlNode | undefined;
    if (found && found.range) return found;
  }
  return undefined;
}

/** A mapping's entries keyed by name, reporting keys outside `allowed`. */
function fieldsOf(
  ctx: Ctx,
  map: YAMLMap,
  path: string[],
  allowed: string[],
  hint: (key: string) => string,
  service?: string,
  quoteKeys = true,
): Map<string, Entry> {
  const fields = new Map<string, Entry>();
  for (const entry of entriesOf(ctx, map, path, service)) {
    if (!allowed.includes(entry.key)) {
      // A key with a value is a misspelt setting; a bare one (`{S3cret}`) may be a literal.
      const quote = quoteKeys || !isEmpty(entry.value);
      const where = { node: entry.keyNode, path: (quote ? [...path, entry.key] : path).join('.'), service };
      add(ctx, where, quote ? `unknown key '${entry.key}'${didYouMean(entry.key, allowed)}: ${hint(entry.key)}` : `unknown key (not shown, it may be part of a secret): ${hint(entry.key)}`);
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
  if (ctx.mergeBudget < 0) return [];
  if (depth > 10) {
    add(ctx, at, 'merge keys (<<) are nested too deeply or refer to their own mapping');
    return [];
  }
  const resolved = deref(ctx, value);
  const sources = isSeq(resolved) ? resolved.items.map((i) => deref(ctx, i as YamlNode | null)) : [resolved];
  const entries: Entry[] = [];
  for (const source of sources) {
    if (!isMap(source)) {
      add(ctx, at, 'a merge key (<<) must refer to a mapping or a list of mappings');
      continue;
    }
    let expanded = ctx.mergeCache.get(source);
    if (!expanded) {
      expanded = entriesOf(ctx, source, path, service, depth + 1);
      ctx.mergeCache.set(source, expanded);
    }
    ctx.mergeBudget -= expanded.length + 1;
    if (ctx.mergeBudget < 0) {
      const limit = ctx.mergeLimit.toLocaleString('en-US');
      // Forced: this one explains why validation stopped, even past MAX_ISSUES.
      add(ctx, at, `merge keys (<<) copy more than ${limit} entries (the limit for a file of this size): ` +
        'a merge/alias bomb? Merge fewer times or write the shared settings out', true);
      return [];
    }
    entries.push(...expanded);
  }
  return entries;
}

function deref(ctx: Ctx, node: YamlNode | null): YamlNode | null {
  if (!isAlias(node)) return node;
  return ctx.aliases.get(node) ?? null;
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
      if (contains(pair.key, offset)) return [keyText, KEY_HIT];
      if (contains(pair.value, offset)) return [keyText, ...pathAt(pair.value, offset)];
    } else if (contains(item as YamlNode, offset)) {
      return [String(index), ...pathAt(item, offset)];
    }
  }
  return [];
}
/** Marks a path that ends at a key (pathAt), rather than inside the key's value. */
const KEY_HIT = '\0key';

function contains(node: YamlNode | null | undefined, offset: number): boolean {
  const range = node?.range;
  // Ranges end after trailing whitespace, so the end offset belongs to what follows.
  return !!range && offset >= range[0] && (offset < range[2] || offset === range[0]);
}

// ---- issues ----

function lineOf(ctx: Ctx, node: YamlNode): number {
  return ctx.lines.linePos(node.range?.[0] ?? 0).line;
}

function add(ctx: Ctx, at: At, message: string, force = false): void {
  addAt(ctx, at.node?.range?.[0] ?? 0, at, message, force);
}

function addAt(ctx: Ctx, offset: number, at: Omit<At, 'node'>, message: string, force = false): void {
  ctx.issueCount++;
  if (ctx.issues.length >= MAX_ISSUES && !force) return;
  const pos = ctx.lines.linePos(offset);
  // linePos reports line 0 for offsets before the first newline of a one-line file.
  const issue: ConfigIssue = { path: at.path, line: Math.max(pos.line, 1), column: Math.max(pos.col, 1), message };
  if (at.service !== undefined) issue.service = at.service;
  ctx.issues.push(issue);
}

function sortIssues(ctx: Ctx): ConfigIssue[] {
  const sorted = [...ctx.issues].sort((a, b) => a.line - b.line || a.column - b.column);
  const more = ctx.issueCount - ctx.issues.length;
  if (more > 0) sorted.push({ path: DOCUMENT, line: 0, column: 0, message: `${more} more problems not listed (the first ${MAX_ISSUES} are shown)` });
  return sorted;
}

function list(items: string[]): string {
  return items.length > 0 ? items.join(', ') : '(none)';
}

/**
 * A credential key one typo away from a key the connector uses (its form's credential
 * keys). Stricter than a suggestion, since it refuses the key: `sslpassword` is a real
 * parameter two letters from nothing.
 */
function nearMiss(key: string, spec: ConnectorSpec): string | undefined {
  const form = spec.form;
  const used = [...spec.requiredCredentials, ...(form?.credentials ?? []), ...Object.keys(form?.hints ?? {}).filter((k) => !form?.config?.includes(k))];
  return used.includes(key) ? undefined : closest(key, used, Math.max(1, Math.floor(key.length / 4)));
}
