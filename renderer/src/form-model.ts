// The editor's model, kept apart from React so it can be tested: a form state built from
// a connector template (and, when editing, the target's references), and the TargetInput
// it submits. Secrets are never literals here: a secret field is a keychain, environment
// or file reference, and its keychain reference follows the target name until the user
// changes it.
import { keychainIdFor, type ConnectorTemplate, type CredentialRef, type TargetDetail, type TargetInput, type TemplateField } from '../../broker/api.js';
import { splitAddress } from '../../broker/connection-strings.js';

export type Source = 'value' | 'env' | 'file' | 'keychain' | 'keep';

export interface CredState {
  key: string;
  source: Source;
  /** The literal value, or the reference (variable, path, keychain id). */
  value: string;
  /** The user typed the keychain reference: stop deriving it from the name. */
  refEdited: boolean;
  /** A new secret to store in the keychain (keychain source only); empty keeps the stored one. */
  secret: string;
  /** Not a template field (a pg startup parameter, or a key from the file). */
  extra: boolean;
}

export interface FormState {
  name: string;
  connector: string;
  listenKind: 'tcp' | 'unix';
  port: string;
  socket: string;
  /** The user changed the listener: a connector switch no longer proposes one. */
  listenEdited: boolean;
  creds: CredState[];
  config: Record<string, string>;
}

export const SOURCE_LABELS: Record<Source, string> = {
  value: 'value',
  keychain: 'OS keychain',
  env: 'environment variable',
  file: 'file',
  keep: 'unchanged (in the config file)',
};

/** The sources a field may use: a secret is never typed into the config as a literal. */
export function sourcesFor(field: TemplateField | undefined, current: Source): Source[] {
  const all: Source[] = field?.secret ? ['keychain', 'env', 'file'] : ['value', 'keychain', 'env', 'file'];
  return current === 'keep' ? ['keep', ...all] : all;
}

function listenerOf(listenOn: string): Pick<FormState, 'listenKind' | 'port' | 'socket'> {
  const a = splitAddress(listenOn);
  if (a?.socket) return { listenKind: 'unix', port: '', socket: a.socket };
  return { listenKind: 'tcp', port: a?.port !== undefined && a.port !== 0 ? String(a.port) : '', socket: '' };
}

function freshCred(field: TemplateField, name: string): CredState {
  return field.secret
    ? { key: field.key, source: 'keychain', value: keychainIdFor(name || 'new-target', field.key), refEdited: false, secret: '', extra: false }
    : { key: field.key, source: 'value', value: field.default ?? '', refEdited: false, secret: '', extra: false };
}

function credFromRef(key: string, ref: CredentialRef, extra: boolean): CredState {
  if ('keep' in ref) return { key, source: 'keep', value: '', refEdited: true, secret: '', extra };
  if ('literal' in ref) return { key, source: 'value', value: ref.literal, refEdited: true, secret: '', extra };
  const source: Source = ref.from === 'keychain' || ref.from === 'env' || ref.from === 'file' ? ref.from : 'value';
  return { key, source, value: ref.get, refEdited: true, secret: '', extra };
}

export function newForm(template: ConnectorTemplate): FormState {
  return {
    name: '',
    connector: template.connector,
    ...listenerOf(template.listenOn),
    listenEdited: false,
    creds: template.fields.filter((f) => f.section === 'credentials').map((f) => freshCred(f, '')),
    config: Object.fromEntries(template.fields.filter((f) => f.section === 'config').map((f) => [f.key, f.default ?? ''])),
  };
}

/** The form for an existing target (edit) or a copy of it (duplicate: a new name, the same references). */
export function formFromDetail(detail: TargetDetail, template: ConnectorTemplate | undefined, duplicate: boolean): FormState {
  const fields = template?.fields ?? [];
  const creds: CredState[] = [];
  for (const f of fields.filter((f) => f.section === 'credentials')) {
    const ref = detail.credentials[f.key];
    creds.push(ref ? credFromRef(f.key, ref, false) : { ...freshCred(f, detail.name), source: f.secret ? 'keychain' : 'value', value: f.secret ? keychainIdFor(detail.name, f.key) : '' });
  }
  for (const [key, ref] of Object.entries(detail.credentials)) {
    if (!fields.some((f) => f.section === 'credentials' && f.key === key)) creds.push(credFromRef(key, ref, true));
  }
  const config: Record<string, string> = {};
  for (const f of fields.filter((f) => f.section === 'config')) config[f.key] = detail.config[f.key] === undefined ? '' : String(detail.config[f.key]);
  return {
    name: duplicate ? `${detail.name}-copy` : detail.name,
    connector: detail.connector,
    ...(duplicate ? { listenKind: 'tcp' as const, port: '', socket: '' } : listenerOf(detail.listenOn)),
    listenEdited: true,
    creds,
    config,
  };
}

/** A new name: keychain references the user did not type follow it. */
export function rename(s: FormState, name: string): FormState {
  return { ...s, name, creds: s.creds.map((c) => (c.source === 'keychain' && !c.refEdited ? { ...c, value: keychainIdFor(name || 'new-target', c.key) } : c)) };
}

/**
 * Another connector: its fields and defaults replace the old ones (a typed value stays
 * when the new connector has the same key and the value was not the old default).
 */
export function switchConnector(s: FormState, from: ConnectorTemplate | undefined, to: ConnectorTemplate): FormState {
  const oldDefault = (key: string) => from?.fields.find((f) => f.key === key)?.default ?? '';
  const creds = to.fields
    .filter((f) => f.section === 'credentials')
    .map((f) => {
      const prev = s.creds.find((c) => c.key === f.key && !c.extra);
      const typed = prev && (prev.source !== 'value' || (prev.value !== '' && prev.value !== oldDefault(f.key)));
      if (prev && typed && !(f.secret && prev.source === 'value')) return prev;
      return freshCred(f, s.name);
    });
  const extras = to.extraCredentials ? s.creds.filter((c) => c.extra) : [];
  const config = Object.fromEntries(
    to.fields.filter((f) => f.section === 'config').map((f) => {
      const prev = s.config[f.key];
      return [f.key, prev !== undefined && prev !== '' && prev !== oldDefault(f.key) ? prev : (f.default ?? '')];
    }),
  );
  return { ...s, connector: to.connector, ...(s.listenEdited ? {} : listenerOf(to.listenOn)), creds: [...creds, ...extras], config };
}

export type Built = { ok: true; input: TargetInput } | { ok: false; fields: { path: string; message: string }[] };

/** The TargetInput the form submits, or the fields that need attention first. */
export function buildInput(s: FormState, template: ConnectorTemplate | undefined, previousName?: string): Built {
  const problems: { path: string; message: string }[] = [];
  const name = s.name.trim();
  if (!name) problems.push({ path: 'name', message: 'Give the target a name.' });
  const credentials: TargetInput['credentials'] = {};
  const keychainValues: Record<string, string> = {};
  for (const c of s.creds) {
    const key = c.key.trim();
    if (!key) continue;
    const field = template?.fields.find((f) => f.section === 'credentials' && f.key === key);
    const path = `credentials.${key}`;
    if (c.source === 'keep') {
      credentials[key] = { keep: true };
    } else if (c.source === 'value') {
      if (c.value === '') {
        if (field?.required) problems.push({ path, message: `${field.label} is required.` });
        continue;
      }
      credentials[key] = { literal: c.value };
    } else {
      // An optional secret the user left alone (the proposed keychain item, nothing typed,
      // or the reference cleared) is not used: no reference to an item that does not exist.
      const untouched = c.source === 'keychain' && !c.refEdited && !c.secret;
      if (!field?.required && (untouched || !c.value.trim())) continue;
      if (!c.value.trim()) {
        problems.push({ path, message: `Say which ${c.source === 'keychain' ? 'keychain item' : c.source === 'env' ? 'environment variable' : 'file'} holds it.` });
        continue;
      }
      credentials[key] = { from: c.source, get: c.value.trim() };
      if (c.source === 'keychain' && c.secret) keychainValues[key] = c.secret;
    }
  }
  const config: Record<string, unknown> = {};
  for (const f of template?.fields.filter((f) => f.section === 'config') ?? []) {
    const v = (s.config[f.key] ?? '').trim();
    if (v === '') {
      if (f.required) problems.push({ path: `config.${f.key}`, message: `${f.label} is required.` });
      continue;
    }
    config[f.key] = f.kind === 'number' && /^\d+$/.test(v) ? Number(v) : f.kind === 'boolean' ? v === 'true' : v;
  }
  let listenOn: string;
  if (s.listenKind === 'tcp') {
    const port = s.port.trim() || '0';
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) problems.push({ path: 'listenOn', message: 'A port number from 1 to 65535, or empty for a free port each start.' });
    listenOn = `tcp://127.0.0.1:${port}`;
  } else {
    if (!s.socket.trim().startsWith('/')) problems.push({ path: 'listenOn', message: 'An absolute socket path, such as /run/user/1000/app-db/.s.PGSQL.5432.' });
    listenOn = `unix://${s.socket.trim()}`;
  }
  if (problems.length) return { ok: false, fields: problems };
  const input: TargetInput = { name, connector: s.connector, listenOn, credentials };
  if (Object.keys(config).length) input.config = config;
  if (Object.keys(keychainValues).length) input.keychainValues = keychainValues;
  if (previousName) input.previousName = previousName;
  return { ok: true, input };
}

/** The element id of the control a field path points at (`credentials.password` → f-cred-password). */
export function controlId(path: string): string {
  if (path === 'name') return 'f-name';
  if (path === 'listenOn') return 'f-listen';
  if (path === 'connector') return 'f-connector';
  const m = /^(credentials|config)\.([^.[\]]+)/.exec(path);
  if (m) return `f-${m[1] === 'credentials' ? 'cred' : 'config'}-${m[2]}`;
  return '';
}
