// The add/edit form's templates, generated from the connector specs: which keys exist,
// which are required (requiredCredentials), which are secrets, their defaults. A
// connector without form hints still gets a usable form from its key lists (all its
// `config:` settings, its known and required credentials).
import type { ConnectorTemplate, TemplateField } from '../api.js';
import { isSecretCredential } from '../config/secret-keys.js';
import type { ConnectorSpec, FieldHint } from '../config/types.js';

/** Whether a credential key of this connector holds a secret (never shown, never a literal). */
export function isSecretKey(spec: ConnectorSpec | undefined, key: string): boolean {
  return spec?.form?.hints[key]?.secret ?? isSecretCredential(key);
}

export function connectorTemplate(spec: ConnectorSpec): ConnectorTemplate {
  const form = spec.form;
  const known = spec.knownCredentials === 'any' ? [] : spec.knownCredentials;
  const credentialKeys = unique([...spec.requiredCredentials, ...(form?.credentials ?? known)]);
  const field = (key: string, section: TemplateField['section']): TemplateField => {
    const hint: FieldHint = form?.hints[key] ?? {};
    return {
      key,
      section,
      label: hint.label ?? key,
      required: section === 'credentials' && spec.requiredCredentials.includes(key),
      secret: section === 'credentials' && isSecretKey(spec, key),
      kind: hint.kind ?? 'text',
      ...(hint.options ? { options: [...hint.options] } : {}),
      ...(hint.default !== undefined ? { default: hint.default } : {}),
      ...(hint.placeholder !== undefined ? { placeholder: hint.placeholder } : {}),
      ...(hint.help !== undefined ? { help: hint.help } : {}),
    };
  };
  return {
    connector: spec.name,
    label: form?.label ?? spec.name,
    listenOn: form?.listenOn ?? 'tcp://127.0.0.1:0',
    extraCredentials: spec.knownCredentials === 'any',
    fields: [...credentialKeys.map((k) => field(k, 'credentials')), ...(form?.config ?? spec.configKeys).filter((k) => spec.configKeys.includes(k)).map((k) => field(k, 'config'))],
  };
}

const unique = (keys: string[]): string[] => [...new Set(keys)];
