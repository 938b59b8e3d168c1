// Adding or editing one service in secretless.yml from the UI. The file is edited with
// the yaml Document API so comments, key order and the other services stay as the user
// wrote them; the result is validated with the real parser before it replaces the file
// (atomically: temp file + rename, mode 0600). Credentials are written as provider
// references only: a literal is refused for secret-looking keys, and a value for the OS
// keychain is stored in the keychain, never in the file.
import { AsyncEntry } from '@napi-rs/keyring';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isMap, parseDocument, type Document, type YAMLMap } from 'yaml';
import type { TargetInput } from '../api.js';
import { parseKeychainId } from '../credentials/providers/keychain.js';
import { parseConfig, type ParseOptions } from './parse.js';
import { isSecretKey } from '../connectors/templates.js';
import { ConfigError, type BrokerConfig, type ConnectorSpec } from './types.js';
import { CodedError } from '../errors.js';

/** Stores, checks and deletes keychain items; tests substitute a fake. */
export interface KeychainWriter {
  set(service: string, account: string, value: string): Promise<void>;
  /** Whether an item exists (its value is never read). */
  exists(service: string, account: string): Promise<boolean>;
  /** Deletes an item; false when there was none. */
  delete(service: string, account: string): Promise<boolean>;
}

/** The OS keychain could not be used at all (no Secret Service, locked, no answer). */
export class KeychainUnavailable extends Error {
  override name = 'KeychainUnavailable';
}

export const nativeKeychainWriter: KeychainWriter = {
  set: (service, account, value) => keychainCall('store the secret in', (e, signal) => e.setPassword(value, signal), service, account),
  // getSecret would decrypt the value into this process; it is dropped at once.
  exists: (service, account) => keychainCall('look up', async (e, signal) => (await e.getSecret(signal)) !== null, service, account),
  delete: (service, account) => keychainCall('delete', (e, signal) => e.deleteCredential(signal), service, account),
};

/**
 * Pinned to the Secret Service on Linux, like the keychain provider reads it; async so a
 * slow D-Bus or an unlock prompt does not stall the broker; bounded like the reads. The
 * binding's own error text (raw D-Bus messages) is not for users: it becomes one clear
 * sentence.
 */
async function keychainCall<T>(what: string, op: (e: AsyncEntry, signal: AbortSignal) => Promise<T>, service: string, account: string): Promise<T> {
  const signal = AbortSignal.timeout(30_000);
  try {
    return await op(new AsyncEntry(service, account, { linux: { store: 'secret-service' } }), signal);
  } catch {
    throw new KeychainUnavailable(
      signal.aborted
        ? `the OS keychain did not answer within 30 s (is it waiting for an unlock prompt?); could not ${what} ${service}#${account}`
        : `the OS keychain is not available (on Linux: is a Secret Service such as gnome-keyring running and unlocked?); could not ${what} ${service}#${account}`,
    );
  }
}

export interface WriteTargetOptions {
  parse: Omit<ParseOptions, 'source'>;
  keychain?: KeychainWriter;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Bad form input; `field` is the form's path (`name`, `credentials.password`, …). */
export class TargetInputError extends CodedError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super('invalid_input', message);
  }
}

/** Storing a value would overwrite an existing keychain item the user has not confirmed. */
export class KeychainItemExists extends Error {
  override name = 'KeychainItemExists';
  constructor(
    readonly field: string,
    readonly id: string,
    readonly usedBy: string[],
  ) {
    super(
      `the keychain already holds an item ${id}${usedBy.length ? `, used by ${usedBy.map((n) => `'${n}'`).join(', ')}` : ''}: storing this value would replace it. Confirm overwriting it, or use another keychain id`,
    );
  }
}

/** Applies `input` to the config file at `path`; returns the validated new config. */
export async function writeTarget(path: string, input: TargetInput, options: WriteTargetOptions): Promise<BrokerConfig> {
  checkInput(input, options.parse.connectors);
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return 'version: "2"\nservices:\n';
    throw err;
  });
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length) throw new ConfigError(path, [{ path: '(document)', line: 0, column: 0, message: 'the config file has YAML errors; fix them first' }]);
  const users = keychainUsers(doc);
  applyTarget(doc, input);
  const next = doc.toString();
  // Validate exactly what will be written; a ConfigError leaves the file untouched.
  const config = parseConfig(next, { ...options.parse, source: path });
  const keychain = options.keychain ?? nativeKeychainWriter;
  const stores: { id: { service: string; account: string }; value: string }[] = [];
  for (const [key, value] of Object.entries(input.keychainValues ?? {})) {
    const ref = input.credentials[key];
    if (!ref || !('from' in ref) || ref.from !== 'keychain') {
      throw new TargetInputError(`a keychain value was given for '${key}', which does not come from the keychain`, `credentials.${key}`);
    }
    const id = parseKeychainId(ref.get)!;
    // Never replace someone else's item silently: only the target being edited may reuse its own.
    const usedBy = users.get(ref.get) ?? [];
    const own = usedBy.length > 0 && usedBy.every((n) => n === (input.previousName ?? input.name));
    if (!own && !input.overwriteKeychainItems?.includes(ref.get) && (await keychain.exists(id.service, id.account))) {
      throw new KeychainItemExists(`credentials.${key}`, ref.get, usedBy);
    }
    stores.push({ id, value });
  }
  // Keychain values go in before the file refers to them.
  for (const { id, value } of stores) await keychain.set(id.service, id.account, value);
  await replaceFile(path, next);
  return config;
}

/** Removes one service from the config file; returns its keychain ids and who else uses each. */
export async function removeTarget(path: string, name: string, options: WriteTargetOptions): Promise<{ id: string; usedBy: string[] }[]> {
  const text = await readFile(path, 'utf8');
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length) throw new ConfigError(path, [{ path: '(document)', line: 0, column: 0, message: 'the config file has YAML errors; fix them first' }]);
  const services = (doc.contents as YAMLMap | null)?.get?.('services', true);
  if (!isMap(services) || !services.has(name)) throw new TargetInputError(`there is no target named '${name}'`, 'name');
  const users = keychainUsers(doc);
  services.delete(name);
  const next = doc.toString();
  parseConfig(next, { ...options.parse, source: path });
  await replaceFile(path, next);
  return [...users]
    .filter(([, names]) => names.includes(name))
    .map(([id, names]) => ({ id, usedBy: names.filter((n) => n !== name) }));
}

/** keychain id -> the services whose credentials name it (`from: keychain`). */
function keychainUsers(doc: Document): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const services = (doc.toJS() as { services?: Record<string, { credentials?: Record<string, unknown> }> } | null)?.services ?? {};
  for (const [name, svc] of Object.entries(services ?? {})) {
    for (const ref of Object.values(svc?.credentials ?? {})) {
      const r = ref as { from?: unknown; get?: unknown } | null;
      if (r && typeof r === 'object' && r.from === 'keychain' && typeof r.get === 'string') out.set(r.get, [...(out.get(r.get) ?? []), name]);
    }
  }
  return out;
}

function checkInput(input: TargetInput, connectors: ConnectorSpec[]): void {
  if (!NAME.test(input.name)) throw new TargetInputError(`the name '${input.name}' must be letters, digits, '.', '_' or '-'`, 'name');
  if (input.previousName !== undefined && !NAME.test(input.previousName)) throw new TargetInputError('previousName is not a valid name', 'previousName');
  const spec = connectors.find((c) => c.name === input.connector);
  for (const [key, ref] of Object.entries(input.credentials)) {
    if ('keep' in ref) continue;
    if ('literal' in ref) {
      if (isSecretKey(spec, key)) {
        throw new TargetInputError(`'${key}' is a secret: give it as a provider reference (keychain, env, file), not as a value`, `credentials.${key}`);
      }
      continue;
    }
    if (ref.from === 'keychain' && !parseKeychainId(ref.get)) {
      throw new TargetInputError(`a keychain id has the form 'service#account'`, `credentials.${key}`);
    }
  }
}

function applyTarget(doc: Document, input: TargetInput): void {
  if (!isMap(doc.contents)) doc.contents = doc.createNode({ version: '2', services: {} }) as never;
  const root = doc.contents as unknown as YAMLMap;
  if (!root.has('version')) root.set('version', '2');
  let map = root.get('services', true) as unknown;
  if (!isMap(map)) {
    map = doc.createNode({});
    root.set('services', map);
  }
  if (!isMap(map)) throw new Error('unreachable');
  map.flow = false; // `services: {}` in the example config would otherwise stay a flow map
  const editing = input.previousName ?? input.name;
  const existing = map.get(editing, true);
  if (input.previousName === undefined && map.has(input.name)) throw new TargetInputError(`a target named '${input.name}' already exists`, 'name');
  if (input.previousName !== undefined && !isMap(existing)) throw new TargetInputError(`there is no target named '${input.previousName}'`, 'previousName');
  if (input.previousName !== undefined && input.previousName !== input.name && map.has(input.name)) {
    throw new TargetInputError(`a target named '${input.name}' already exists`, 'name');
  }
  let svc: YAMLMap;
  if (isMap(existing)) {
    svc = existing;
    // A rename keeps the node (and its comments) under the new key, in the same position.
    const pair = map.items.find((p) => keyOf(p.key) === editing)!;
    if (editing !== input.name) pair.key = doc.createNode(input.name);
  } else {
    svc = doc.createNode({}) as YAMLMap;
    map.set(input.name, svc);
  }
  svc.flow = false;
  svc.set('connector', input.connector);
  if (svc.has('protocol')) svc.delete('protocol');
  svc.set('listenOn', input.listenOn);

  // Editing with no credentials given keeps the ones in the file (the UI cannot read them back).
  const keepCredentials = isMap(existing) && Object.keys(input.credentials).length === 0;
  let credMap = svc.get('credentials', true) as unknown;
  if (!isMap(credMap)) {
    credMap = doc.createNode({});
    svc.set('credentials', credMap);
  }
  if (!isMap(credMap)) throw new Error('unreachable');
  credMap.flow = false;
  for (const pair of keepCredentials ? [] : [...credMap.items]) {
    const k = keyOf(pair.key);
    if (k !== undefined && !(k in input.credentials)) credMap.delete(k);
  }
  for (const [key, ref] of Object.entries(input.credentials)) {
    if ('keep' in ref) {
      // An unchanged credential the editor could not show (a literal secret): left as written.
      if (!credMap.has(key)) throw new TargetInputError(`credential '${key}' is to be kept, but the target has none`, `credentials.${key}`);
      continue;
    }
    if ('literal' in ref) credMap.set(key, /^\d{1,9}$/.test(ref.literal) ? Number(ref.literal) : ref.literal);
    else {
      const node = doc.createNode({ from: ref.from, get: ref.get }) as YAMLMap;
      node.flow = false;
      credMap.set(key, node);
    }
  }
  if (input.config && Object.keys(input.config).length > 0) svc.set('config', doc.createNode(input.config));
  else if (input.config && svc.has('config')) svc.delete('config');
}

function keyOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object' && 'value' in node) return String((node as { value: unknown }).value);
  return undefined;
}

async function replaceFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    // Owner-only, whatever the file was before: it may hold literal secrets.
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
