// A connector's `config:` settings, defined once: each setting checks its value (so a
// bad value is a config error with its key and line at load time and in `check`, not a
// surprise on the first connection) and reads it into a typed value with its default.
// defineSettings() turns the table into the spec's configKeys, checkSetting and
// parseSettings; the broker calls parseSettings once per service start.
import { CodedError } from '../errors.js';

export type SettingCheck = (value: unknown) => string | undefined;

export interface Setting<T> {
  /** What is wrong with a present (non-null) value, if anything. */
  check: SettingCheck;
  /** The typed value: `undefined` (absent or null) gets the default; only called on checked values. */
  read(value: unknown): T;
}

export type SettingsOf<D extends Record<string, Setting<unknown>>> = { [K in keyof D]: D[K] extends Setting<infer T> ? T : never };

/** A setting with a bad value reached parseSettings (a config built without the loader's checks). */
export class SettingsError extends CodedError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

export interface SettingsDefinition<S> {
  configKeys: string[];
  checkSetting(key: string, value: unknown): string | undefined;
  parseSettings(raw: Record<string, unknown>): S;
}

export function defineSettings<D extends Record<string, Setting<unknown>>>(defs: D): SettingsDefinition<SettingsOf<D>> {
  const present = (v: unknown) => v !== null && v !== undefined;
  return {
    configKeys: Object.keys(defs),
    checkSetting: (key, value) => (present(value) ? defs[key]?.check(value) : undefined),
    parseSettings(raw) {
      const out: Record<string, unknown> = {};
      for (const [key, def] of Object.entries(defs)) {
        const value = present(raw[key]) ? raw[key] : undefined;
        const problem = value === undefined ? undefined : def.check(value);
        if (problem) throw new SettingsError(`config.${key}: ${problem}`);
        out[key] = def.read(value);
      }
      return out as SettingsOf<D>;
    },
  };
}

export const booleanSetting: SettingCheck = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');

/** Also accepts the strings "true" and "false" (older configs quote them). */
export const looseBooleanSetting: SettingCheck = (v) => (typeof v === 'boolean' || v === 'true' || v === 'false' ? undefined : 'must be true or false');

export const durationMsSetting: SettingCheck = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'must be a positive number of milliseconds';

export const countSetting: SettingCheck = (v) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? undefined : 'must be a positive whole number');

export const pathSetting: SettingCheck = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'must be a file or directory path');

/** true/false, default false. */
export const flag = (check: SettingCheck = booleanSetting): Setting<boolean> => ({ check, read: (v) => v === true || v === 'true' });

export const durationMs = (fallback: number): Setting<number> => ({ check: durationMsSetting, read: (v) => (v === undefined ? fallback : (v as number)) });

export const count = (fallback: number): Setting<number> => ({ check: countSetting, read: (v) => (v === undefined ? fallback : (v as number)) });

export const optionalPath = (): Setting<string | undefined> => ({ check: pathSetting, read: (v) => v as string | undefined });

export function oneOf<const T extends string>(values: readonly T[], fallback: T): Setting<T> {
  return {
    check: (v) => (values.includes(v as T) ? undefined : `must be ${values.map((x) => `'${x}'`).join(' or ')}`),
    read: (v) => (v === undefined ? fallback : (v as T)),
  };
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
