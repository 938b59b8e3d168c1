import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findConfigPath, loadConfig, loadConfigSync, userConfigDir, userStateDir } from '../../broker/config/load.js';
import { ConfigError } from '../../broker/config/types.js';

const parseOpts = {
  connectors: [{ name: 'pg', requiredCredentials: [], knownCredentials: 'any' as const, configKeys: [] }],
  providers: ['env'],
};

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sd-config-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('findConfigPath: explicit path wins, resolved against cwd, even when missing', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'secretless.yml'), 'version: 2\nservices: {}\n');
    const found = findConfigPath({ explicit: 'other.yml', cwd: dir, env: {}, platform: 'linux', homedir: '/home/u' });
    assert.deepEqual(found, { path: join(dir, 'other.yml'), tried: [join(dir, 'other.yml')] });
    assert.equal(findConfigPath({ explicit: '/etc/s.yml', cwd: dir }).path, '/etc/s.yml');
  });
});

test('findConfigPath: ./secretless.yml when it exists, else the user config dir', async () => {
  await withTempDir(async (dir) => {
    const opts = { cwd: dir, env: {}, platform: 'linux' as const, homedir: '/home/u' };
    const user = '/home/u/.config/secretless-desktop/secretless.yml';
    assert.deepEqual(findConfigPath(opts), { path: user, tried: [join(dir, 'secretless.yml'), user] });
    // A directory of that name is not a config file.
    await mkdir(join(dir, 'secretless.yml'));
    assert.equal(findConfigPath(opts).path, user);
    await rm(join(dir, 'secretless.yml'), { recursive: true });
    await writeFile(join(dir, 'secretless.yml'), 'version: 2\nservices: {}\n');
    assert.deepEqual(findConfigPath(opts), { path: join(dir, 'secretless.yml'), tried: [join(dir, 'secretless.yml')] });
  });
});

test('user config and state dirs per platform', () => {
  const home = '/home/u';
  assert.equal(userConfigDir({ env: {}, platform: 'linux', homedir: home }), '/home/u/.config/secretless-desktop');
  assert.equal(userConfigDir({ env: { XDG_CONFIG_HOME: '/x/cfg' }, platform: 'linux', homedir: home }), '/x/cfg/secretless-desktop');
  // Relative XDG values are invalid per the spec and ignored.
  assert.equal(userConfigDir({ env: { XDG_CONFIG_HOME: 'rel' }, platform: 'linux', homedir: home }), '/home/u/.config/secretless-desktop');
  assert.equal(userStateDir({ env: {}, platform: 'linux', homedir: home }), '/home/u/.local/state/secretless-desktop');
  assert.equal(userStateDir({ env: { XDG_STATE_HOME: '/x/state' }, platform: 'freebsd', homedir: home }), '/x/state/secretless-desktop');

  const mac = '/Users/u/Library/Application Support/secretless-desktop';
  assert.equal(userConfigDir({ env: { XDG_CONFIG_HOME: '/x' }, platform: 'darwin', homedir: '/Users/u' }), mac);
  assert.equal(userStateDir({ env: {}, platform: 'darwin', homedir: '/Users/u' }), mac);
  assert.equal(
    findConfigPath({ cwd: '/nonexistent-dir', env: {}, platform: 'darwin', homedir: '/Users/u' }).path,
    `${mac}/secretless.yml`,
  );

  const winEnv = { APPDATA: 'C:\\Users\\u\\AppData\\Roaming', LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' };
  assert.equal(userConfigDir({ env: winEnv, platform: 'win32', homedir: 'C:\\Users\\u' }), 'C:\\Users\\u\\AppData\\Roaming\\secretless-desktop');
  assert.equal(userStateDir({ env: winEnv, platform: 'win32', homedir: 'C:\\Users\\u' }), 'C:\\Users\\u\\AppData\\Local\\secretless-desktop');
  assert.equal(userStateDir({ env: {}, platform: 'win32', homedir: 'C:\\Users\\u' }), 'C:\\Users\\u\\AppData\\Local\\secretless-desktop');
  assert.equal(
    findConfigPath({ cwd: 'C:\\nonexistent-dir', env: winEnv, platform: 'win32', homedir: 'C:\\Users\\u' }).path,
    'C:\\Users\\u\\AppData\\Roaming\\secretless-desktop\\secretless.yml',
  );
});

test('loadConfig reads and validates; source is the path', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'secretless.yml');
    await writeFile(path, 'version: 2\nservices:\n  pg:\n    connector: pg\n    listenOn: tcp://127.0.0.1:0\n');
    const cfg = await loadConfig(path, parseOpts);
    assert.equal(cfg.source, path);
    assert.equal(cfg.services[0]!.name, 'pg');
    assert.deepEqual(loadConfigSync(path, parseOpts), cfg);

    await writeFile(path, 'version: 2\nservices:\n  pg: {connector: pg}\n');
    await assert.rejects(loadConfig(path, parseOpts), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.source, path);
      assert.equal(err.issues[0]!.path, 'services.pg.listenOn');
      return true;
    });
  });
});

test('loadConfig: a missing file is a ConfigError naming every place looked at', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'nope.yml');
    const tried = [join(dir, 'secretless.yml'), path];
    await assert.rejects(loadConfig(path, { ...parseOpts, tried }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues.length, 1);
      assert.equal(err.issues[0]!.path, '(file)');
      assert.match(err.issues[0]!.message, /config file not found: .*nope\.yml \(looked for: .*secretless\.yml, .*nope\.yml\)/);
      return true;
    });
    assert.throws(() => loadConfigSync(dir, parseOpts), /is a directory/);
  });
});
