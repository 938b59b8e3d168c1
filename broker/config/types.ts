// The parsed, validated form of a secretless.yml version 2 file.
import type { IdentityConfig } from '../identity/config.js';
import type { ApprovalMode, BrokerSettings } from './broker-settings.js';

export type ListenAddress =
  | { type: 'tcp'; host: string; port: number }
  | { type: 'unix'; path: string };

// In a file of its own so that identity/config.ts can use it without an import cycle.
export type { CredentialSpec } from './credential-spec.js';
import type { CredentialSpec } from './credential-spec.js';
import { CodedError } from '../errors.js';

export interface ServiceConfig {
  name: string;
  connector: string;
  listenOn: ListenAddress;
  /** Our extension: allow a non-loopback TCP listener. Default false. */
  allowRemote: boolean;
  /** OS users besides the broker's own who may connect (uids or login names); TCP listeners only. */
  allowUsers?: (number | string)[];
  /** Anyone who can reach the listener may connect: no same-user check. */
  allowAnyUser?: boolean;
  /**
   * Whether error messages to clients carry the details (provider ids, target address,
   * the target's own message). Absent: on for Unix sockets only (errors.ts).
   */
  verboseClientErrors?: boolean;
  /** Ask the user before a new client process may use the service; absent: `settings.approval`. */
  approval?: ApprovalMode;
  credentials: Record<string, CredentialSpec>;
  /** Connector-specific settings (the service's `config:` block). */
  config: Record<string, unknown>;
  line: number;
}

export interface BrokerConfig {
  version: '2';
  services: ServiceConfig[];
  /** The `identities:` section (OIDC logins, AWS roles, Vault servers); absent when empty. */
  identities?: IdentityConfig[];
  /** The `settings:` section, defaults applied; absent when the file has none. */
  settings?: BrokerSettings;
  /** Path the config was read from, when read from a file. */
  source?: string;
}

/** How one key looks in the add/edit form (the connector templates of the API). */
export interface FieldHint {
  label?: string;
  secret?: boolean;
  kind?: 'text' | 'number' | 'boolean' | 'multiline' | 'select';
  options?: readonly string[];
  default?: string;
  placeholder?: string;
  help?: string;
}

/** What the editor shows for a connector; keys without a hint get a plain text field. */
export interface ConnectorFormHints {
  label: string;
  /** listenOn for a new target. */
  listenOn: string;
  /** Credential keys in form order (the required ones are added if missing). */
  credentials: string[];
  /** `config:` settings the form offers (the rest stay editable in the file). */
  config?: string[];
  /**
   * What credential keys outside the known ones become (pg: "startup parameters sent to
   * PostgreSQL"); set, a key one typo away from a known one is refused as a typo.
   */
  extraCredentials?: string;
  hints: Record<string, FieldHint>;
}

/** What the validator needs to know about each connector. */
export interface ConnectorSpec {
  name: string;
  /** The add/edit form's template (api connectorTemplates()); optional, derived from the keys when absent. */
  form?: ConnectorFormHints;
  /** Credential keys that must be present. */
  requiredCredentials: string[];
  /** Known credential keys; `'any'` lets unknown keys through (pg: they become startup parameters). */
  knownCredentials: string[] | 'any';
  /** Keys allowed in the service's `config:` block. */
  configKeys: string[];
  /** Settings other brokers take (Secretless Broker configs) that this connector does not support, with what to do instead. */
  unsupportedSettings?: Record<string, string>;
  /** Checks one setting's value; returns what is wrong with it (reported with key and line). */
  checkSetting?: (key: string, value: unknown) => string | undefined;
  /**
   * Checks a credential given as a literal (values from providers are only known per
   * connection). The message must not quote the value: a literal may be a secret.
   */
  checkLiteral?: (key: string, value: string) => string | undefined;
  /**
   * Checks the settings against each other and the credential names (an http header
   * template naming a credential the service lacks). `key` is a path below `config:`
   * (`headers.Authorization`), or `credentials`.
   */
  checkService?: (service: { config: Record<string, unknown>; credentials: string[] }) => { key: string; message: string }[];
}

export interface ConfigIssue {
  /** Service name when the problem is inside a service. */
  service?: string;
  /** Key path, e.g. `services.pg.credentials.password.from`. */
  path: string;
  line: number;
  column: number;
  message: string;
}

export class ConfigError extends CodedError {
  readonly issues: ConfigIssue[];
  readonly source: string;
  constructor(source: string, issues: ConfigIssue[]) {
    super(
      'config_invalid',
      `${source}: ${issues.length} configuration error${issues.length === 1 ? '' : 's'}:\n` +
        issues.map((i) => `  line ${i.line}: ${i.path}: ${i.message}`).join('\n'),
    );
    this.source = source;
    this.issues = issues;
  }
}
