// `npm run build` builds everything a user runs: after it, `serve --ui` must find the UI
// (it once built the broker only, and serve --ui answered "the UI is not built"), and the
// Electron main process must exist. Checked against the files that decide it: the build
// script, the Vite config's output directory and the directory serve --ui serves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { RENDERER_DIR } from '../../broker/control/ui.js';

const root = process.cwd();

test('npm run build compiles the broker and Electron and builds the UI where serve --ui serves it', () => {
  const build: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.build;
  const steps = build.split('&&').map((s) => s.trim());
  assert.ok(steps.includes('tsc -p tsconfig.json'), build);
  assert.ok(steps.includes('tsc -p electron/tsconfig.json'), build);
  const vite = steps.find((s) => s.startsWith('vite build'));
  assert.ok(vite, `no vite build in: ${build}`);
  const configPath = /-c\s+(\S+)/.exec(vite!)?.[1] ?? 'vite.config.ts';
  const viteConfig = readFileSync(join(root, configPath), 'utf8');
  const outDir = /outDir:\s*fileURLToPath\(new URL\('([^']+)', import\.meta\.url\)\)/.exec(viteConfig)?.[1];
  assert.ok(outDir, 'the Vite config names its outDir');
  assert.equal(resolve(join(root, configPath), '..', outDir!), resolve(RENDERER_DIR));
});
