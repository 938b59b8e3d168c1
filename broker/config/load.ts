// Finding and reading secretless.yml, and the per-user directories the broker uses.

import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir as osHomedir } from 'node:os';
import { posix, win32 } from 'node:path';
import { parseConfig } from './parse.js';
import type { ParseOptions } from './parse.js';
import { isSecretCredential } from './secret-keys.js';
import { ConfigError } from './types.js';
import type { BrokerConfig } from './types.js';

export const CONFIG_FILE_NAME = 'secretless.yml';
export const APP_DIR_NAME = 'secretless-desktop';

export interface LoadOptions extends Omit<ParseOptions, 'source'> {
  /** Name shown in errors; defaults to the path. */
  source?: string;
  /** Every place that was looked at (from findConfigPath), for the "not found" message. */
  tried?: string[];
}

export interface PlatformOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  homedir?: string;
}

export interface FindConfigOptions extends PlatformOptions {
  /** A path given on the command line: used as is, even if it does not exist. */
  explicit?: string;
  cwd?: string;
}

/** Read and validate a config file. Every failure, including a missing file, is a ConfigError. */
export async function loadConfig(path: string, options: LoadOptions): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw readError(path, options, err);
  }
  return parseConfig(text, { ...options, source: options.source ?? path });
}

/** Synchronous twin of loadConfig, for startup code that cannot await. */
export function loadConfigSync(path: string, options: LoadOptions): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw readError(path, options, err);
  }
  return parseConfig(text, { ...options, source: options.source ?? path });
}

/** A file-level problem: it has no line, so line and column are 0. */
function readError(path: string, options: LoadOptions, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException).code;
  const tried = options.tried && options.tried.length > 1 ? ` (looked for: ${options.tried.join(', ')})` : '';
  const message =
    code === 'ENOENT'
      ? `config file not found: ${path}${tried}`
      : code === 'EISDIR'
        ? `${path} is a directory, not a config file`
        : code === 'EACCES' || code === 'EPERM'
          ? `permission denied reading ${path}`
          : `could not read ${path}: ${code ?? (err as Error).message}`;
  return new ConfigError(options.source ?? path, [{ path: '(file)', line: 0, column: 0, message }]);
}

/**
 * Which config file to use: an explicit path, else ./secretless.yml if it exists, else the
 * one in the user config dir (returned even when missing, so errors can name it).
 */
export function findConfigPath(opts: FindConfigOptions = {}): { path: string; tried: string[] } {
  const p = pathModule(opts.platform);
  const cwd = opts.cwd ?? process.cwd();
  if (opts.explicit !== undefined) {
    const path = p.resolve(cwd, opts.explicit);
    return { path, tried: [path] };
  }
  const local = p.join(cwd, CONFIG_FILE_NAME);
  if (isFile(local)) return { path: local, tried: [local] };
  const user = p.join(userConfigDir(opts), CONFIG_FILE_NAME);
  return { path: user, tried: [local, user] };
}

/** Linux: $XDG_CONFIG_HOME or ~/.config; macOS: ~/Library/Application Support; Windows: %APPDATA%. */
export function userConfigDir(opts: PlatformOptions = {}): string {
  const { env, platform, home } = platformOf(opts);
  const p = pathModule(platform);
  if (platform === 'win32') return p.join(env.APPDATA || p.join(home, 'AppData', 'Roaming'), APP_DIR_NAME);
  if (platform === 'darwin') return p.join(home, 'Library', 'Application Support', APP_DIR_NAME);
  return p.join(xdg(env.XDG_CONFIG_HOME) ?? p.join(home, '.config'), APP_DIR_NAME);
}

/** Where the audit log and other state live. Linux: $XDG_STATE_HOME or ~/.local/state; Windows: %LOCALAPPDATA%. */
export function userStateDir(opts: PlatformOptions = {}): string {
  const { env, platform, home } = platformOf(opts);
  const p = pathModule(platform);
  if (platform === 'win32') return p.join(env.LOCALAPPDATA || p.join(home, 'AppData', 'Local'), APP_DIR_NAME);
  if (platform === 'darwin') return p.join(home, 'Library', 'Application Support', APP_DIR_NAME);
  return p.join(xdg(env.XDG_STATE_HOME) ?? p.join(home, '.local', 'state'), APP_DIR_NAME);
}

function platformOf(opts: PlatformOptions): { env: NodeJS.ProcessEnv; platform: NodeJS.Platform; home: string } {
  return { env: opts.env ?? process.env, platform: opts.platform ?? process.platform, home: opts.homedir ?? osHomedir() };
}

/** The XDG spec says relative values are invalid and must be ignored. */
function xdg(value: string | undefined): string | undefined {
  return value && posix.isAbsolute(value) ? value : undefined;
}

function pathModule(platform: NodeJS.Platform | undefined): typeof posix {
  return (platform ?? process.platform) === 'win32' ? win32 : posix;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * A config file that other users can read must not hold literal secrets: returns the
 * warning (naming the credentials by key path, never their values), or undefined.
 */
export function permissionWarning(path: string, config: BrokerConfig, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined; // ACLs, not mode bits
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o044) === 0) return undefined;
  const literals = config.services.flatMap((s) =>
    Object.entries(s.credentials)
      .filter(([key, spec]) => spec.provider === 'literal' && isSecretCredential(key))
      .map(([key]) => `services.${s.name}.credentials.${key}`),
  );
  if (literals.length === 0) return undefined;
  const who = mode & 0o004 ? 'every user of this machine' : 'its group';
  const shown = literals.length > 3 ? `${literals.slice(0, 3).join(', ')} and ${literals.length - 3} more` : literals.join(', ');
  return `${path} is readable by ${who} (mode ${mode.toString(8).padStart(4, '0')}) and holds literal secrets (${shown}): ` +
    `run chmod 600 ${path}, or move the secrets to the keychain, a file or an environment variable`;
}
