// Adding or editing one service in secretless.yml from the UI. The file is edited with
// the yaml Document API so comments, key order and the other services stay as the user
// wrote them; the result is validated with the real parser before it replaces the file
// (atomically: temp file + rename, mode 0600). Credentials are written as provider
// references only: a literal is refused for secret-looking keys, and a value for the OS
// keychain is stored in the keychain, never in the file.
import { isSecretCredential } from './secret-keys.js';
import { AsyncEntry } from '@napi-rs/keyring';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isMap, parseDocument, type Document, type YAMLMap } from 'yaml';
import type { TargetInput } from '../api.js';
import { parseKeychainId } from '../credentials/providers/keychain.js';
import { parseConfig, type ParseOptions } from './parse.js';
import { ConfigError, type BrokerConfig } from './types.js';
import { CodedError } from '../errors.js';

/** Stores keychain items; tests substitute a fake. */
export interface KeychainWriter {
  set(service: string, account: string, value: string): Promise<void>;
}

export const nativeKeychainWriter: KeychainWriter = {
  async set(service, account, value) {
    // Pinned to the Secret Service on Linux, like the keychain provider reads it; async so
    // a slow D-Bus or an unlock prompt does not stall the broker. Bounded like the reads.
    const signal = AbortSignal.timeout(30_000);
    try {
      await new AsyncEntry(service, account, { linux: { store: 'secret-service' } }).setPassword(value, signal);
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new Error(`could not store the secret in the OS keychain (${service}#${account}): ${signal.aborted ? 'no answer within 30 s' : reason}`);
    }
  },
};

export interface WriteTargetOptions {
  parse: Omit<ParseOptions, 'source'>;
  keychain?: KeychainWriter;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class TargetInputError extends CodedError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

/** Applies `input` to the config file at `path`; returns the validated new config. */
export async function writeTarget(path: string, input: TargetInput, options: WriteTargetOptions): Promise<BrokerConfig> {
  checkInput(input);
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return 'version: "2"\nservices:\n';
    throw err;
  });
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length) throw new ConfigError(path, [{ path: '(document)', line: 0, column: 0, message: 'the config file has YAML errors; fix them first' }]);
  applyTarget(doc, input);
  const next = doc.toString();
  // Validate exactly what will be written; a ConfigError leaves the file untouched.
  const config = parseConfig(next, { ...options.parse, source: path });
  // Keychain values go in before the file refers to them.
  for (const [key, value] of Object.entries(input.keychainValues ?? {})) {
    const ref = input.credentials[key];
    if (!ref || !('from' in ref) || ref.from !== 'keychain') {
      throw new TargetInputError(`a keychain value was given for '${key}', which does not come from the keychain`);
    }
    const id = parseKeychainId(ref.get)!;
    await (options.keychain ?? nativeKeychainWriter).set(id.service, id.account, value);
  }
  await replaceFile(path, next);
  return config;
}

function checkInput(input: TargetInput): void {
  if (!NAME.test(input.name)) throw new TargetInputError(`the name '${input.name}' must be letters, digits, '.', '_' or '-'`);
  if (input.previousName !== undefined && !NAME.test(input.previousName)) throw new TargetInputError('previousName is not a valid name');
  for (const [key, ref] of Object.entries(input.credentials)) {
    if ('keep' in ref) continue;
    if ('literal' in ref) {
      if (isSecretCredential(key)) {
        throw new TargetInputError(`'${key}' is a secret: give it as a provider reference (keychain, env, file), not as a value`);
      }
      continue;
    }
    if (ref.from === 'keychain' && !parseKeychainId(ref.get)) {
      throw new TargetInputError(`credential '${key}': a keychain id has the form 'service#account'`);
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
  if (input.previousName === undefined && map.has(input.name)) throw new TargetInputError(`a target named '${input.name}' already exists`);
  if (input.previousName !== undefined && !isMap(existing)) throw new TargetInputError(`there is no target named '${input.previousName}'`);
  if (input.previousName !== undefined && input.previousName !== input.name && map.has(input.name)) {
    throw new TargetInputError(`a target named '${input.name}' already exists`);
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
      if (!credMap.has(key)) throw new TargetInputError(`credential '${key}' is to be kept, but the target has none`);
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
