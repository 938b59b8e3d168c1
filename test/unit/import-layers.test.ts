// The layering rules of broker/, checked on the TypeScript sources: no import cycle
// between files; broker/ never imports Electron or the renderer; broker/net/ (the
// low-level socket helpers) imports nothing above it; a connector never imports another
// connector; and the back-edges the architecture review removed stay removed.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** file -> the module specifiers it imports (relative ones resolved to repo paths). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const file of sources('broker')) {
    const text = readFileSync(join(repo, file), 'utf8');
    const specs = [...text.matchAll(re)].map((m) => m[1] ?? m[2]!);
    graph.set(
      file,
      specs.map((s) => (s.startsWith('.') ? normalize(join(dirname(file), s)).replace(/\.js$/, '.ts') : s)),
    );
  }
  return graph;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => ({ from, to })));

test('the rules are checked on the real sources', () => {
  assert.ok(graph.size > 50, `found ${graph.size} files under broker/`);
  assert.ok(edges.some((e) => e.from === 'broker/broker.ts' && e.to === 'broker/connection.ts'), 'relative imports are resolved');
});

test('no import cycle between files', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const to of graph.get(file) ?? []) if (graph.has(to)) visit(to, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('broker/ never imports electron or the renderer', () => {
  const bad = edges.filter((e) => e.to === 'electron' || e.to.startsWith('electron/') || e.to.startsWith('renderer/'));
  assert.deepEqual(bad, []);
});

test('broker/net/ imports nothing above it (node built-ins, the error catalog, itself)', () => {
  const bad = edges.filter((e) => e.from.startsWith('broker/net/') && !e.to.startsWith('node:') && e.to !== 'broker/errors.ts' && !e.to.startsWith('broker/net/'));
  assert.deepEqual(bad, []);
});

test('a connector never imports another connector', () => {
  const connectorOf = (f: string) => /^broker\/connectors\/([^/]+)\//.exec(f)?.[1];
  const bad = edges.filter((e) => connectorOf(e.from) && connectorOf(e.to) && connectorOf(e.from) !== connectorOf(e.to));
  assert.deepEqual(bad, []);
});

test('the removed back-edges stay removed: ssh/ and tls/ below connectors/, identity/ below credentials/', () => {
  const folder = (f: string) => relative('broker', f).split('/')[0];
  const crossing = (from: string, to: string) => edges.filter((e) => e.from.startsWith('broker/') && folder(e.from) === from && e.to.startsWith(`broker/${to}/`));
  assert.deepEqual(crossing('ssh', 'connectors'), []);
  assert.deepEqual(crossing('tls', 'connectors'), []);
  assert.deepEqual(crossing('identity', 'credentials'), []);
});
