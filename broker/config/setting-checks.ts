// Checks for the values of a connector's `config:` settings, so that a bad value is a
// config error with its key and line at load time (and in `check`), not a surprise on
// the first connection. Each check returns a message, or undefined when the value is fine.

export type SettingCheck = (value: unknown) => string | undefined;

export const booleanSetting: SettingCheck = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');

/** Also accepts the strings "true" and "false" (older configs quote them). */
export const looseBooleanSetting: SettingCheck = (v) => (typeof v === 'boolean' || v === 'true' || v === 'false' ? undefined : 'must be true or false');

export const durationMsSetting: SettingCheck = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'must be a positive number of milliseconds';

export const pathSetting: SettingCheck = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a file or directory path');

/** One check per setting name: the ConnectorSpec.checkSetting of a connector. */
export function settingChecks(checks: Record<string, SettingCheck>): (key: string, value: unknown) => string | undefined {
  return (key, value) => (value === null || value === undefined ? undefined : checks[key]?.(value));
}

/** Literal credential checks shared by the database connectors (sslmode, port). */
export function databaseLiteralChecks(sslModes: readonly string[]): (key: string, value: string) => string | undefined {
  return (key, value) => {
    if (key === 'sslmode' && !sslModes.includes(value)) return `must be one of ${sslModes.join(', ')}`;
    if (key === 'port' && !/^\d+$/.test(value.trim())) return 'must be a port number (1-65535)';
    if (key === 'port' && (Number(value) < 1 || Number(value) > 65535)) return 'must be a port number (1-65535)';
    return undefined;
  };
}
