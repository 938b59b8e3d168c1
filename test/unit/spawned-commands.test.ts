// Every program the tests and scripts start must come from a Debian package that the
// scripts install (a fresh machine once failed `npm test` on a missing secret-tool).
// The test reads the sources for the commands they spawn, finds the package that owns
// each one here, and fails when that package is neither named by the install script nor
// pulled in by one that is (or Essential).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..'); // dist/test/unit -> project root

interface Use {
  command: string;
  where: string;
}

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f));
}

// spawn, spawnSync, execFile, execFileSync and the fixtures' wrappers (run, exec, bin)
// called with a literal program name, which may sit on the next line.
const CALL = /\b(?:spawn|spawnSync|execFile|execFileSync|run|exec)\(\s*'([\w./+-]+)'/g;
// PostgreSQL's programs run from its versioned bin directory, outside PATH.
const PG_BIN = /(?:\b(?:runPg|bin)\(|join\(\s*[\w.]*binDir,)\s*'([\w-]+)'/gi;
// Absolute paths of programs and files the fixtures use directly (sshd, chromium, jars).
const ABSOLUTE = /'(\/usr\/(?:s?bin|lib|share|libexec)\/[\w./+-]+)'/g;

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function sourceUses(files: string[]): Use[] {
  const uses: Use[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const re of [CALL, PG_BIN, ABSOLUTE])
      for (const m of text.matchAll(re)) uses.push({ command: re === PG_BIN ? `pg:${m[1]}` : m[1]!, where: `${file}:${lineOf(text, m.index!)}` });
  }
  return uses;
}

const SHELL_WORDS = new Set(
  'if then else elif fi for in do done case esac while until function return exit local export unset set source . echo printf read shift trap cd test [ [[ ] ]] true false command exec kill wait mapfile declare eval break continue'.split(' '),
);

/** Words in command position in a shell script, minus builtins, keywords, variables and its own functions. */
function shellUses(file: string): Use[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  const libs = filesUnder('scripts/lib', '.sh').map((f) => readFileSync(join(ROOT, f), 'utf8'));
  const functions = new Set([text, ...libs].flatMap((t) => [...t.matchAll(/^\s*([\w-]+)\(\)\s*\{/gm)].map((m) => m[1]!)));
  const uses: Use[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').replace(/"[^"$]*"/g, '""');
    if (/^\s*[\w-]+\)\s/.test(line) && !/\$\(/.test(line)) return; // a case pattern line
    for (const segment of line.split(/\|\||&&|[|;]|\$\(|\bthen\b|\bdo\b|\belse\b|(?:^|\s)!\s|\bexec\b|\s--\s/)) {
      const words = segment.trim().split(/\s+/).filter((w) => !/^[A-Za-z_]\w*=/.test(w)); // VAR=value prefixes
      const word = words[0];
      if (!word || !/^[a-z][\w.+-]*$/.test(word) || SHELL_WORDS.has(word) || functions.has(word)) continue;
      uses.push({ command: word, where: `${file}:${i + 1}` });
    }
  });
  return uses;
}

/** What a script installs: every WHAT=PACKAGE pair given to ensure_debian_packages. */
function scriptPackages(file: string): Map<string, string> {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  const call = /ensure_debian_packages\s+\w+\s+([^\n]+)/.exec(text);
  assert.ok(call, `${file} calls ensure_debian_packages`);
  return new Map([...call[1]!.matchAll(/(\S+)=([\w.+-]+)/g)].map((m) => [m[1]!, m[2]!]));
}

function dpkgQuery(format: string, packages: string[]): string[] {
  if (!packages.length) return [];
  // Exit status 1 only means some name is not an installed package (virtual, alternatives).
  const r = spawnSync('dpkg-query', ['-W', `-f=${format}\\n`, ...packages], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

/** The packages installed with `roots`: their Depends/Pre-Depends closure, every alternative counted. */
function installedWith(roots: string[]): Set<string> {
  const seen = new Set<string>();
  let next = roots;
  while (next.length) {
    next.forEach((p) => seen.add(p));
    const deps = dpkgQuery('${Depends}, ${Pre-Depends}', next)
      .flatMap((line) => line.split(/[,|]/))
      .map((d) => d.trim().replace(/[\s:(].*$/, ''))
      .filter((d) => d && !seen.has(d));
    next = [...new Set(deps)];
  }
  return seen;
}

function essentialPackages(): Set<string> {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Essential}\\n'], { encoding: 'utf8' });
  return new Set(r.stdout.split('\n').filter((l) => l.endsWith(' yes')).map((l) => l.split(' ')[0]!));
}

/** The file a command runs here, or undefined when it is not installed. */
function locate(command: string): string | undefined {
  if (command.startsWith('pg:')) {
    const name = command.slice(3);
    const root = '/usr/lib/postgresql';
    const version = existsSync(root) ? readdirSync(root).find((v) => existsSync(join(root, v, 'bin', name))) : undefined;
    return version && join(root, version, 'bin', name);
  }
  if (command.startsWith('/')) return existsSync(command) ? command : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, command))) return join(dir, command);
  return undefined;
}

/** The Debian package owning each path (merged /usr: /usr/bin/x may be registered as /bin/x). */
function owners(paths: string[]): Map<string, string> {
  const candidates = new Map<string, string[]>();
  for (const path of paths)
    for (const c of [path, realpathSync(path)].flatMap((p) => [p, p.replace(/^\/usr\/(s?bin|lib)\//, '/$1/')])) candidates.set(c, [...(candidates.get(c) ?? []), path]);
  // "pkg[:arch][, pkg2]: /path" per line; paths no package owns only print to stderr.
  const r = spawnSync('dpkg', ['-S', ...candidates.keys()], { encoding: 'utf8' });
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const at = line.indexOf(': /');
    if (at < 0 || line.startsWith('diversion ')) continue;
    const pkg = line.slice(0, at).split(',')[0]!.trim().replace(/:.*$/, '');
    for (const path of candidates.get(line.slice(at + 2)) ?? []) if (!out.has(path)) out.set(path, pkg);
  }
  return out;
}

/** Commands that need no package: node itself runs the tests. */
const NOT_PACKAGED = new Set(['node', 'npm', 'npx']);

function problems(uses: Use[], listed: Map<string, string>): string[] {
  const allowed = new Set([...installedWith([...new Set(listed.values())]), ...essentialPackages()]);
  const byCommand = new Map<string, string[]>();
  for (const u of uses) if (!NOT_PACKAGED.has(u.command)) byCommand.set(u.command, [...(byCommand.get(u.command) ?? []), u.where]);
  const out: string[] = [];
  const located = new Map<string, string>();
  for (const [command, where] of byCommand) {
    const path = locate(command);
    if (path) located.set(command, path);
    // Listed by name but absent: a lenient script (bench.sh) skips what needs it.
    else if (!listed.has(command)) out.push(`${command} (${where[0]}) is not installed here, and no install script names it`);
  }
  const owner = owners([...located.values()]);
  for (const [command, path] of located) {
    const pkg = owner.get(path);
    const where = byCommand.get(command)![0];
    if (!pkg) out.push(`${command} (${path}, ${where}) belongs to no Debian package`);
    else if (!allowed.has(pkg)) out.push(`${command} (${where}) comes from Debian package ${pkg}, which no install script installs`);
  }
  return out;
}

const testFiles = ['test/unit', 'test/integration', 'test/e2e', 'test/fixtures'].flatMap((d) => filesUnder(d, '.ts'));

test('every command the tests spawn is installed by scripts/install-deps.sh', () => {
  const uses = [...sourceUses(testFiles), ...['scripts/test.sh', 'scripts/with-keyring.sh', 'scripts/install-deps.sh'].flatMap(shellUses)];
  // The check must see the commands we know are there, or it checks nothing.
  for (const known of ['psql', 'secret-tool', 'ssh-keygen', 'mariadbd', 'pg:pg_ctl', '/usr/sbin/sshd', '/usr/bin/chromium', 'dbus-run-session', 'gnome-keyring-daemon'])
    assert.ok(uses.some((u) => u.command === known), `the scan finds ${known}`);
  assert.deepEqual(problems(uses, scriptPackages('scripts/install-deps.sh')), []);
});

test('every command the benchmarks spawn is installed by scripts/bench.sh or install-deps.sh', () => {
  const uses = [...sourceUses(filesUnder('test/bench', '.ts')), ...shellUses('scripts/bench.sh')];
  assert.ok(uses.some((u) => u.command === 'haproxy'), 'the scan finds haproxy');
  assert.deepEqual(problems(uses, new Map([...scriptPackages('scripts/install-deps.sh'), ...scriptPackages('scripts/bench.sh')])), []);
});

test('the check fails for a command that no listed package provides', () => {
  const uses = sourceUses([relative(ROOT, join(ROOT, 'test/integration/keychain.test.ts'))]);
  const found = problems(uses, new Map([['initdb', 'postgresql']]));
  assert.ok(found.some((p) => p.startsWith('secret-tool') && p.includes('libsecret-tools')), found.join('\n'));
});
