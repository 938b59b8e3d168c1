// parseConfig: real secretless.yml texts, valid and invalid, checking paths, lines and messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../broker/config/parse.js';
import type { ParseOptions } from '../../broker/config/parse.js';
import { ConfigError } from '../../broker/config/types.js';
import type { ConfigIssue, ConnectorSpec } from '../../broker/config/types.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';

const connectors: ConnectorSpec[] = [
  { name: 'pg', requiredCredentials: ['host', 'password'], knownCredentials: 'any', configKeys: ['sslmode'] },
  {
    name: 'mysql',
    requiredCredentials: ['host', 'username', 'password'],
    knownCredentials: ['host', 'port', 'username', 'password', 'sslmode'],
    configKeys: [],
  },
  { name: 'ssh', requiredCredentials: ['address'], knownCredentials: ['address', 'user', 'privateKey'], configKeys: [] },
];
const options: ParseOptions = { source: 'secretless.yml', connectors, providers: ['env', 'file', 'keychain'] };

/** Lines joined with \n so that array index + 1 is the line number. */
const yml = (...lines: string[]) => lines.join('\n') + '\n';

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.source, 'secretless.yml');
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

function only(text: string): ConfigIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, JSON.stringify(issues, null, 2));
  return issues[0]!;
}

function service(...body: string[]): string {
  return yml('version: 2', 'services:', '  pg:', ...body);
}

const validPg = ['    connector: pg', '    listenOn: tcp://127.0.0.1:5432'];
const pgCreds = ['    credentials:', '      host: db.internal', '      password:', '        from: env', '        get: PGPASSWORD'];

test('a valid Secretless-style file parses with every kind of credential and listener', () => {
  const cfg = parseConfig(
    yml(
      'version: "2"',
      'services:',
      '  postgres-db:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5432',
      '    credentials:',
      '      host: db.internal',
      '      port: 05432',
      '      sslmode: require',
      '      password:',
      '        from: keychain',
      '        get: postgres/password',
      '    config:',
      '      sslmode: verify-full',
      '',
      '  mysql-db:',
      '    protocol: mysql          # older Secretless name for connector',
      '    listenOn: unix:///sock/mysql.sock',
      '    credentials:',
      '      host: {from: env, get: MYSQL_HOST}',
      '      username: root',
      '      password: { from: file, get: /run/secrets/mysql }',
      '',
      '  shared-box:',
      '    connector: ssh',
      '    listenOn: tcp://0.0.0.0:2222',
      '    allowRemote: true',
      '    allowAnyUser: true',
      '    credentials:',
      '      address: 10.0.0.5:22',
      '      user: 1234',
      '      privateKey: { from: literal, get: "not-a-real-key" }',
      'identities:',
      '  corp: { issuer: https://login.example.com, clientId: secretless-desktop }',
    ),
    options,
  );
  assert.equal(cfg.version, '2');
  assert.equal(cfg.source, 'secretless.yml');
  assert.deepEqual(
    cfg.services.map((s) => s.name),
    ['postgres-db', 'mysql-db', 'shared-box'],
  );
  const [pg, mysql, ssh] = cfg.services as [typeof cfg.services[0], typeof cfg.services[0], typeof cfg.services[0]];
  assert.deepEqual(pg, {
    name: 'postgres-db',
    connector: 'pg',
    listenOn: { type: 'tcp', host: '127.0.0.1', port: 5432 },
    allowRemote: false,
    credentials: {
      host: { provider: 'literal', id: 'db.internal', line: 7 },
      port: { provider: 'literal', id: '05432', line: 8 },
      sslmode: { provider: 'literal', id: 'require', line: 9 },
      password: { provider: 'keychain', id: 'postgres/password', line: 11 },
    },
    config: { sslmode: 'verify-full' },
    line: 3,
  });
  assert.equal(mysql.connector, 'mysql');
  assert.deepEqual(mysql.listenOn, { type: 'unix', path: '/sock/mysql.sock' });
  assert.deepEqual(mysql.credentials.host, { provider: 'env', id: 'MYSQL_HOST', line: 20 });
  assert.deepEqual(mysql.credentials.password, { provider: 'file', id: '/run/secrets/mysql', line: 22 });
  assert.deepEqual(mysql.config, {});
  assert.equal(ssh.allowRemote, true);
  assert.deepEqual(ssh.listenOn, { type: 'tcp', host: '0.0.0.0', port: 2222 });
  assert.deepEqual(ssh.credentials.user, { provider: 'literal', id: '1234', line: 31 });
  assert.deepEqual(ssh.credentials.privateKey, { provider: 'literal', id: 'not-a-real-key', line: 32 });
});

test('version 2 as a number, an empty services mapping, and services with no entries are valid', () => {
  assert.deepEqual(parseConfig('version: 2\nservices: {}\n', options).services, []);
  assert.deepEqual(parseConfig('version: 2\nservices:\n#  pg: commented out\n', options).services, []);
});

test('scalar literals keep the text as written: booleans, numbers, block scalars', () => {
  const cfg = parseConfig(
    service(...validPg, '    credentials:', '      host: h', '      password: 1e3', '      flag: True', '      key: |-', '        line1', '        line2'),
    options,
  );
  const creds = cfg.services[0]!.credentials;
  assert.equal(creds.password!.id, '1e3');
  assert.equal(creds.flag!.id, 'True');
  assert.equal(creds.key!.id, 'line1\nline2');
  assert.equal(creds.key!.line, 10);
});

test('anchors, aliases and merge keys are followed', () => {
  const cfg = parseConfig(
    yml(
      'version: 2',
      'services:',
      '  a:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5432',
      '    credentials: &pgcreds',
      '      host: db',
      '      password: {from: env, get: PGPASSWORD}',
      '  b:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5433',
      '    credentials:',
      '      <<: *pgcreds',
      '      host: replica',
    ),
    options,
  );
  const b = cfg.services[1]!;
  assert.equal(b.credentials.host!.id, 'replica');
  assert.deepEqual(b.credentials.password, { provider: 'env', id: 'PGPASSWORD', line: 8 });
});

test('version: missing, wrong, or 2.0', () => {
  let issue = only('services: {}\n');
  assert.equal(issue.path, 'version');
  assert.equal(issue.line, 1);
  assert.match(issue.message, /missing `version: 2`/);

  issue = only('services: {}\nversion: 1\n');
  assert.deepEqual([issue.path, issue.line, issue.column], ['version', 2, 10]);
  assert.match(issue.message, /only version "2"/);

  assert.equal(only('version: 2.0\nservices: {}\n').path, 'version');
});

test('top level: empty file, not a mapping, missing services, unknown keys, v1 hint', () => {
  assert.match(only('').message, /file is empty/);
  assert.match(only('# nothing\n').message, /file is empty/);
  assert.match(only('- a\n- b\n').message, /top level must be a mapping/);

  let issue = only('version: 2\n');
  assert.equal(issue.path, 'services');
  assert.match(issue.message, /missing `services:`/);

  issue = only('version: 2\nservices: {}\nlisteners: []\n');
  assert.deepEqual([issue.path, issue.line, issue.column], ['listeners', 3, 1]);
  assert.match(issue.message, /unknown key 'listeners'/);
  assert.match(issue.message, /version 1/);

  assert.equal(only('version: 2\nservices: []\n').path, 'services');
  assert.match(only('version: 2\nservices: {}\nidentities: 3\n').message, /must be a mapping/);
});

test('service: not a mapping, no settings, unknown key', () => {
  let issue = only(service());
  assert.deepEqual([issue.service, issue.path, issue.line], ['pg', 'services.pg', 3]);
  assert.match(issue.message, /no settings/);

  issue = only(yml('version: 2', 'services:', '  pg: tcp://127.0.0.1:5432'));
  assert.equal(issue.path, 'services.pg');
  assert.match(issue.message, /must be a mapping/);

  issue = only(service(...validPg, ...pgCreds, '    listen: tcp://127.0.0.1:1'));
  assert.deepEqual([issue.service, issue.path, issue.line, issue.column], ['pg', 'services.pg.listen', 11, 5]);
  assert.match(issue.message, /unknown key 'listen'.*listenOn/);
});

test('connector: missing, unknown, not a string, both connector and protocol', () => {
  let issue = only(service('    listenOn: tcp://127.0.0.1:5432', ...pgCreds));
  // A missing key points at the parent's key: the service name on line 3.
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.connector', 3, 3]);
  assert.match(issue.message, /missing `connector`: expected one of pg, mysql, ssh/);

  issue = only(service('    connector: postgres', '    listenOn: tcp://127.0.0.1:5432', ...pgCreds));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.connector', 4, 16]);
  assert.match(issue.message, /unknown connector 'postgres': expected one of pg, mysql, ssh/);

  issue = only(service('    protocol: [pg]', '    listenOn: tcp://127.0.0.1:5432', ...pgCreds));
  assert.equal(issue.path, 'services.pg.protocol');

  issue = only(service(...validPg, '    protocol: pg', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.protocol', 6]);
  assert.match(issue.message, /not both/);
});

test('listenOn: missing, malformed, bare port, relative unix path', () => {
  let issue = only(service('    connector: pg', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.listenOn', 3]);
  assert.match(issue.message, /missing `listenOn`/);

  issue = only(service('    connector: pg', '    listenOn: 127.0.0.1:5432', ...pgCreds));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.listenOn', 5, 15]);
  assert.match(issue.message, /tcp:\/\/HOST:PORT/);
  assert.match(issue.message, /did you mean tcp:\/\/127\.0\.0\.1:5432/);

  issue = only(service('    connector: pg', '    listenOn: 5432', ...pgCreds));
  assert.match(issue.message, /did you mean tcp:\/\/127\.0\.0\.1:5432/);

  issue = only(service('    connector: pg', '    listenOn: unix://sock/pg.sock', ...pgCreds));
  assert.match(issue.message, /not absolute/);

  issue = only(service('    connector: pg', '    listenOn: tcp://127.0.0.1:70000', ...pgCreds));
  assert.match(issue.message, /port '70000'/);
});

test('a non-loopback TCP listener needs allowRemote: true', () => {
  let issue = only(service('    connector: pg', '    listenOn: tcp://0.0.0.0:5432', ...pgCreds));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.listenOn', 5, 15]);
  assert.match(issue.message, /not a loopback address/);
  assert.match(issue.message, /allowRemote: true/);

  issue = only(service('    connector: pg', '    listenOn: tcp://[::]:5432', '    allowRemote: false', ...pgCreds));
  assert.match(issue.message, /allowRemote/);

  issue = only(service(...validPg, '    allowRemote: "yes"', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.allowRemote', 6]);
  assert.match(issue.message, /true or false/);

  for (const host of ['127.0.0.2', 'localhost', '[::1]']) {
    parseConfig(service('    connector: pg', `    listenOn: tcp://${host}:5432`, ...pgCreds), options);
  }
});

test('allowRemote must say who may connect: allowAnyUser or allowUsers; both apply to tcp listeners only', () => {
  let issue = only(service('    connector: pg', '    listenOn: tcp://0.0.0.0:5432', '    allowRemote: true', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.allowRemote', 6]);
  assert.match(issue.message, /allowAnyUser: true.*allowUsers/);

  const remote = (extra: string) => parseConfig(service('    connector: pg', '    listenOn: tcp://0.0.0.0:5432', '    allowRemote: true', extra, ...pgCreds), options).services[0]!;
  assert.equal(remote('    allowAnyUser: true').allowAnyUser, true);
  assert.deepEqual(remote('    allowUsers: [bob, 1001, "1002"]').allowUsers, ['bob', 1001, 1002]);
  assert.deepEqual(parseConfig(service(...validPg, ...pgCreds), options).services[0]!.allowUsers, undefined);

  issue = only(service(...validPg, '    allowUsers: bob', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.allowUsers', 6]);
  assert.match(issue.message, /list of user names or uids/);

  issue = only(service(...validPg, '    allowUsers: [bob, -1]', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.allowUsers.1', 6]);

  issue = only(service('    connector: pg', '    listenOn: unix:///tmp/pg.sock', '    allowUsers: [bob]', ...pgCreds));
  assert.deepEqual([issue.path, issue.line], ['services.pg.allowUsers', 6]);
  assert.match(issue.message, /tcp listeners only: a unix socket is 0600/);
});

test('credentials: shapes of {from, get}', () => {
  let issue = only(service(...validPg, '    credentials:', '      host: h', '      password:', '        from: env'));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.credentials.password.get', 8, 7]);
  assert.match(issue.message, /missing `get`/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password: {get: X}'));
  assert.deepEqual([issue.path, issue.line], ['services.pg.credentials.password.from', 8]);
  assert.match(issue.message, /missing `from`/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password: {from: vault, get: X}'));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.credentials.password.from', 8, 24]);
  assert.match(issue.message, /unknown provider 'vault': expected env, file, keychain, literal/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password: {from: env, get: X, default: Y}'));
  assert.equal(issue.path, 'services.pg.credentials.password.default');
  assert.match(issue.message, /unknown key 'default': expected from, get/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password: {from: env, get: [A, B]}'));
  assert.equal(issue.path, 'services.pg.credentials.password.get');
  assert.match(issue.message, /non-empty string/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password:'));
  assert.deepEqual([issue.path, issue.line], ['services.pg.credentials.password', 8]);
  assert.match(issue.message, /has no value/);

  issue = only(service(...validPg, '    credentials:', '      host: h', '      password: [a, b]'));
  assert.match(issue.message, /must be a value or a mapping/);

  issue = only(service(...validPg, '    credentials: secret'));
  assert.deepEqual([issue.path, issue.line], ['services.pg.credentials', 6]);
});

test('credentials: required ones missing, unknown keys', () => {
  let issue = only(service(...validPg, '    credentials:', '      port: 5432'));
  assert.deepEqual([issue.path, issue.line, issue.column], ['services.pg.credentials', 6, 5]);
  assert.match(issue.message, /missing required credentials for connector 'pg': host, password/);

  // No credentials block at all: the service's key line.
  issue = only(service(...validPg));
  assert.deepEqual([issue.path, issue.line], ['services.pg.credentials', 3]);

  // pg lets unknown keys through (startup parameters); mysql does not.
  parseConfig(service(...validPg, ...pgCreds, '      application_name: broker'), options);
  issue = only(
    yml(
      'version: 2',
      'services:',
      '  my:',
      '    connector: mysql',
      '    listenOn: unix:///tmp/my.sock',
      '    credentials:',
      '      host: db',
      '      username: u',
      '      password: {from: env, get: P}',
      '      passwd: {from: env, get: P}',
    ),
  );
  assert.deepEqual([issue.service, issue.path, issue.line, issue.column], ['my', 'services.my.credentials.passwd', 10, 7]);
  assert.match(issue.message, /unknown credential 'passwd' for connector 'mysql' \(did you mean 'password'\?\): expected host, port, username, password, sslmode/);
});

test('config: unknown settings and non-mapping', () => {
  let issue = only(service(...validPg, ...pgCreds, '    config:', '      sslmode: disable', '      sslmod: disable'));
  assert.deepEqual([issue.path, issue.line], ['services.pg.config.sslmod', 13]);
  assert.match(issue.message, /unknown setting 'sslmod' for connector 'pg' \(did you mean 'sslmode'\?\): expected sslmode/);

  issue = only(service(...validPg, ...pgCreds, '    config: [a]'));
  assert.match(issue.message, /must be a mapping/);

  const cfg = parseConfig(service(...validPg, ...pgCreds, '    config:', '      sslmode: { mode: verify, ca: [a, b] }'), options);
  assert.deepEqual(cfg.services[0]!.config, { sslmode: { mode: 'verify', ca: ['a', 'b'] } });
});

test('two services on the same address: the second names the first', () => {
  const issues = issuesOf(
    yml(
      'version: 2',
      'services:',
      '  one:',
      '    connector: ssh',
      '    listenOn: tcp://127.0.0.1:2222',
      '    credentials: {address: a}',
      '  two:',
      '    connector: ssh',
      '    listenOn: tcp://localhost:2222',
      '    credentials: {address: b}',
      '  three:',
      '    connector: ssh',
      '    listenOn: unix:///tmp/s.sock',
      '    credentials: {address: c}',
      '  four:',
      '    connector: ssh',
      '    listenOn: unix:///tmp//s.sock',
      '    credentials: {address: d}',
      '  five:',
      '    connector: ssh',
      '    listenOn: tcp://127.0.0.1:0',
      '    credentials: {address: e}',
      '  six:',
      '    connector: ssh',
      '    listenOn: tcp://127.0.0.1:0',
      '    credentials: {address: f}',
      '  seven:',
      '    connector: ssh',
      '    listenOn: tcp://127.0.0.1:2223',
      '    credentials: {address: g}',
    ),
  );
  assert.equal(issues.length, 2, JSON.stringify(issues));
  assert.deepEqual([issues[0]!.service, issues[0]!.path, issues[0]!.line], ['two', 'services.two.listenOn', 9]);
  assert.match(issues[0]!.message, /already used by service 'one' \(line 3/);
  assert.deepEqual([issues[1]!.path, issues[1]!.line], ['services.four.listenOn', 17]);
  assert.match(issues[1]!.message, /service 'three'/);
});

test('YAML syntax errors are issues with their line', () => {
  const broken = issuesOf(yml('version: 2', 'services:', '  pg:', '    connector: pg', '   listenOn: "tcp://127.0.0.1:5432'));
  assert.ok(broken.length >= 1);
  assert.deepEqual([broken[0]!.line, broken[0]!.column, broken[0]!.path], [5, 1, 'services']);
  for (const i of broken) assert.match(i.message, /^invalid YAML: /);

  const issues = issuesOf(yml('version: 2', 'services:', '  pg: {connector: pg}', '  pg: {connector: pg}'));
  assert.equal(issues.length, 1);
  assert.deepEqual([issues[0]!.service, issues[0]!.path, issues[0]!.line], ['pg', 'services.pg', 4]);
  assert.match(issues[0]!.message, /unique/);

  const issue = only(yml('version: 2', 'services: {}', '---', 'version: 2'));
  assert.equal(issue.line, 3);
});

test('undefined aliases, unknown tags, empty names', () => {
  let issue = only(yml('version: 2', 'services:', '  pg: *base'));
  assert.deepEqual([issue.path, issue.line], ['services.pg', 3]);
  assert.match(issue.message, /an alias \(\*\) has no matching anchor/);

  // An unknown tag is reported, and validation of the rest goes on.
  const issues = issuesOf(service('    connector: pg', '    listenOn: tcp://127.0.0.1:1', '    credentials:', '      password: !vault secret/pg'));
  assert.equal(issues.length, 2);
  assert.match(issues[0]!.message, /missing required credential for connector 'pg': host/);
  assert.match(issues[1]!.message, /unknown tag \(!\).*\{from: PROVIDER, get: ID\}/);
  assert.equal(issues[1]!.line, 7);

  issue = only(service(...validPg, ...pgCreds, '      "": x'));
  assert.deepEqual([issue.path, issue.line], ['services.pg.credentials.', 11]);
  assert.match(issue.message, /credential names must not be empty/);
});

test('every problem in the file is reported at once, in line order', () => {
  const issues = issuesOf(
    yml(
      'version: 3', //                                   1 version
      'color: blue', //                                  2 unknown top-level key
      'services:',
      '  pg:',
      '    connector: pg',
      '    listenOn: tcp://0.0.0.0:5432', //             6 allowRemote
      '    credentials:', //                             7 missing host
      '      password: {from: vault, get: pw}', //       8 provider
      '    config: {sslmode: disable, timeout: 3}', //   9 config key
      '  my:',
      '    connector: mysql',
      '    listenOn: tcp://127.0.0.1:5432', //          12 clash
      '    credentials:',
      '      host: db',
      '      user: root', //                            15 unknown credential
      '      password: {from: env}', //                 16 missing get; also username missing (13)
    ),
  );
  assert.deepEqual(
    issues.map((i) => [i.line, i.path]),
    [
      [1, 'version'],
      [2, 'color'],
      [6, 'services.pg.listenOn'],
      [7, 'services.pg.credentials'],
      [8, 'services.pg.credentials.password.from'],
      [9, 'services.pg.config.timeout'],
      [12, 'services.my.listenOn'],
      [13, 'services.my.credentials'],
      [15, 'services.my.credentials.user'],
      [16, 'services.my.credentials.password.get'],
    ],
  );
  for (const i of issues.slice(2)) assert.ok(i.service === 'pg' || i.service === 'my');
  assert.equal(issues[0]!.service, undefined);
  // The ConfigError message lists them all.
  try {
    parseConfig(yml('version: 3', 'color: blue', 'services: {}'), options);
  } catch (err) {
    assert.match((err as Error).message, /2 configuration errors:\n {2}line 1: version: .*\n {2}line 2: color: /);
  }
});

test('no credential value appears in any message', () => {
  const secret = 'hunter2-TOPSECRET';
  const issues = issuesOf(
    yml(
      'version: 2',
      'services:',
      '  my:',
      '    connector: mysql',
      '    listenOn: tcp://0.0.0.0:3306',
      '    credentials:',
      `      pass: ${secret}`,
      `      password: [${secret}]`,
      `      username: {from: literal, get: ${secret}, x: ${secret}}`,
      `      host: {from: nope, get: ${secret}}`,
    ),
  );
  assert.ok(issues.length >= 4);
  for (const i of issues) assert.ok(!i.message.includes('hunter2'), i.message);

  const yamlIssue = only(yml('version: 2', 'services:', '  pg:', `    credentials: {password: "${secret}\\q"}`));
  assert.ok(!yamlIssue.message.includes('hunter2') && !yamlIssue.message.includes('\\q'), yamlIssue.message);
  assert.equal(yamlIssue.path, 'services.pg.credentials.password');
});

test("config: the real connectors' setting values are checked, with key and line", () => {
  const real = connectorSpecs(builtinConnectors());
  const parse = (text: string) => parseConfig(text, { source: 'secretless.yml', connectors: real, providers: ['env', 'file', 'keychain'] });
  const text = yml(
    'version: "2"',
    'services:',
    '  db:',
    '    connector: pg',
    '    listenOn: tcp://127.0.0.1:0',
    '    credentials: { host: h, username: u, sslmode: requre, port: 99999 }',
    '    config:',
    '      connectTimeoutMs: soon',
    '      clientTls: maybe',
    '      sshTunnel: { bogus: 1 }',
    '  box:',
    '    connector: ssh',
    '    listenOn: tcp://127.0.0.1:0',
    '    credentials: { address: "h:22", user: u }',
    '    config:',
    '      clientAuth: sometimes',
    '      authorizedKeys: [not-a-key]',
    '      allowAgentForwarding: "yes"',
    '      authTimeoutMs: -1',
  );
  const err = (() => {
    try {
      parse(text);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(
    err.issues.map((i) => `${i.line} ${i.path}: ${i.message}`),
    [
      '6 services.db.credentials.sslmode: must be one of disable, prefer, require, verify-ca, verify-full',
      '6 services.db.credentials.port: must be a port number (1-65535)',
      '8 services.db.config.connectTimeoutMs: must be a positive number of milliseconds',
      '9 services.db.config.clientTls: must be true or false',
      '10 services.db.config.sshTunnel: unknown key bogus (expected insecureIgnoreHostKey, connectTimeoutMs)',
      "16 services.box.config.clientAuth: must be 'publickey' or 'none'",
      '17 services.box.config.authorizedKeys: every entry must be a public key line (ssh-ed25519 AAAA...)',
      '18 services.box.config.allowAgentForwarding: must be true or false',
      '19 services.box.config.authTimeoutMs: must be a positive number of milliseconds',
    ],
  );
  // The same settings with good values parse.
  const good = text
    .replace('sslmode: requre, port: 99999', 'sslmode: require, port: 5432')
    .replace('connectTimeoutMs: soon', 'connectTimeoutMs: 5000')
    .replace('clientTls: maybe', 'clientTls: true')
    .replace('sshTunnel: { bogus: 1 }', 'sshTunnel: { connectTimeoutMs: 1000 }')
    .replace('clientAuth: sometimes', 'clientAuth: none')
    .replace('authorizedKeys: [not-a-key]', 'authorizedKeys: ~/.ssh/authorized_keys')
    .replace('allowAgentForwarding: "yes"', 'allowAgentForwarding: true')
    .replace('authTimeoutMs: -1', 'authTimeoutMs: 30000');
  assert.equal(parse(good).services.length, 2);
});
