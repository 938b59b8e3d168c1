// The packaging configuration (build/electron-builder.yml, package.json) checked without
// packaging (which needs the network): against electron-builder's own JSON schema and
// the rules a deb/dmg/nsis user depends on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

const root = process.cwd();
const require = createRequire(join(root, 'package.json'));
const config = parse(readFileSync(join(root, 'build', 'electron-builder.yml'), 'utf8')) as Record<string, any>;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, any>;

test('the config is valid by electron-builder\'s own schema (app-builder-lib/scheme.json)', () => {
  const Ajv = require('ajv').default as new (o: object) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown[] } };
  const validate = new Ajv({ allErrors: true, strict: false }).compile(require('app-builder-lib/scheme.json'));
  assert.equal(validate(config), true, JSON.stringify(validate.errors, null, 2));
  // And a wrong key is caught (the check can fail).
  assert.equal(validate({ ...config, deb: { ...config.deb, depend: ['x'] } }), false);
});

test('deb.depends keeps electron-builder\'s default list (a depends replaces it) and adds ours', () => {
  const FpmTarget = require('app-builder-lib/out/targets/FpmTarget.js').default as { prototype: { getDefaultDepends(t: string): string[] } };
  const defaults = FpmTarget.prototype.getDefaultDepends.call(null, 'deb');
  assert.ok(defaults.length > 3, 'read the defaults from electron-builder itself');
  for (const d of defaults) assert.ok(config.deb.depends.includes(d), `deb.depends lacks the default ${d}`);
  assert.ok(config.deb.depends.includes('libsecret-1-0'));
});

test('the deb has a maintainer: package.json author with an email', () => {
  assert.match(pkg.author?.name ?? '', /\S/);
  assert.match(pkg.author?.email ?? '', /^[^@\s]+@[^@\s]+\.\w+$/);
});

test('the CLI is on PATH: /usr/bin/secretless-desktop in the deb, a wrapper in every package\'s resources/bin', () => {
  const mapping = (config.deb.fpm as string[]).find((a) => a.endsWith('=/usr/bin/secretless-desktop'));
  assert.ok(mapping, 'deb.fpm maps the CLI to /usr/bin/secretless-desktop');
  const wrapper = join(root, mapping.split('=')[0]!);
  accessSync(wrapper, constants.X_OK);
  assert.match(readFileSync(wrapper, 'utf8'), /ELECTRON_RUN_AS_NODE=1 exec .*bin\/secretless-desktop\.js/);
  assert.notEqual(config.linux.executableName, 'secretless-desktop', 'the GUI does not take the CLI\'s name');
  assert.match(readFileSync(wrapper, 'utf8'), new RegExp(config.linux.executableName));
  assert.ok((config.extraResources as { from: string; to: string }[]).some((r) => r.from === 'build/cli' && r.to === 'bin'));
  assert.ok(existsSync(join(root, 'build', 'cli', 'secretless-desktop.cmd')));
});

test('the CLI wrapper runs the CLI from an installed layout, also through a symlink on PATH', () => {
  // <install>/secretless-desktop-app stands in for Electron with ELECTRON_RUN_AS_NODE: node itself.
  const install = mkdtempSync(join(tmpdir(), 'sl-install-'));
  const resources = join(install, 'resources');
  mkdirSync(join(resources, 'bin'), { recursive: true });
  mkdirSync(join(resources, 'app.asar'));
  symlinkSync(join(root, 'bin'), join(resources, 'app.asar', 'bin'));
  symlinkSync(join(root, 'dist'), join(resources, 'app.asar', 'dist'));
  symlinkSync(join(root, 'package.json'), join(resources, 'app.asar', 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(resources, 'app.asar', 'node_modules'));
  writeFileSync(join(install, config.linux.executableName), `#!/bin/sh\n[ "$ELECTRON_RUN_AS_NODE" = 1 ] || exit 9\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  copyFileSync(join(root, 'build', 'cli', 'secretless-desktop'), join(resources, 'bin', 'secretless-desktop'));
  chmodSync(join(resources, 'bin', 'secretless-desktop'), 0o755);
  const direct = execFileSync(join(resources, 'bin', 'secretless-desktop'), ['help'], { encoding: 'utf8' });
  assert.match(direct, /^Usage: secretless-desktop <command>/);
  const path = join(install, 'usr-bin');
  mkdirSync(path);
  symlinkSync(join(resources, 'bin', 'secretless-desktop'), join(path, 'secretless-desktop'));
  assert.match(execFileSync(join(path, 'secretless-desktop'), ['help'], { encoding: 'utf8' }), /^Usage: secretless-desktop <command>/);
});

test('no bundled-only packages in dependencies: each one is imported by the broker, main or the CLI', () => {
  const imports = (dirs: string[]): Set<string> => {
    const found = new Set<string>();
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|tsx|cts|js)$/.test(f)) {
          for (const m of readFileSync(p, 'utf8').matchAll(/(?:from|import\()\s*'((?:@[^/']+\/)?[^./'][^/']*)/g)) found.add(m[1]!);
        }
      }
    };
    dirs.forEach((d) => walk(join(root, d)));
    return found;
  };
  const runtime = imports(['broker', 'electron', 'bin']);
  const renderer = imports(['renderer/src']);
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(runtime.has(dep), `${dep} is a dependency but nothing at run time imports it`);
  for (const dep of renderer) if (!runtime.has(dep)) assert.ok(!(dep in pkg.dependencies), `${dep} is bundled by Vite: a devDependency`);
});

test('copyright is a copyright line, not a licence name', () => {
  assert.match(config.copyright, /^Copyright © \d{4} /);
});

test('macOS: hardened runtime with entitlements, and a zip next to the dmg (auto-update installs from it)', () => {
  assert.equal(config.mac.hardenedRuntime, true);
  assert.ok(existsSync(join(root, config.mac.entitlements)));
  assert.match(readFileSync(join(root, config.mac.entitlements), 'utf8'), /com\.apple\.security\.cs\.allow-jit/);
  assert.deepEqual([...config.mac.target].sort(), ['dmg', 'zip']);
});

test('auto-update: a generic publish provider whose URL the packager sets', () => {
  assert.deepEqual(config.publish, { provider: 'generic', url: '${env.SECRETLESS_UPDATE_URL}' });
});

test('packaging fails when the target platform\'s keychain binding is missing (npm ci on each platform)', () => {
  const { checkNative } = require(join(root, config.beforePack)) as { checkNative(root: string, platform: string, arch: string): void };
  const here = readdirSync(join(root, 'node_modules', '@napi-rs')).find((n) => n.startsWith(`keyring-${process.platform}-${process.arch}`));
  assert.ok(here, 'this machine has its own binding');
  checkNative(root, process.platform, process.arch);
  const other = process.platform === 'darwin' ? 'win32' : 'darwin';
  assert.throws(() => checkNative(root, other, 'arm64'), /run `npm ci` on .* and package there/);
});
