// Issue 12, point 10: `check` says "did you mean" for a misspelt key, connector,
// provider or setting, and a pg credential one typo away from one the connector uses
// (`pasword`, `sslmod`, `usrname`) is an error instead of a silent startup parameter,
// while real startup parameters (application_name, search_path) still pass. The real
// connector specs, as `check` uses them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../broker/config/parse.js';
import { ConfigError, type ConfigIssue } from '../../broker/config/types.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { closest } from '../../broker/suggest.js';

const options = { source: 'secretless.yml', connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain', 'literal'] };

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  return [];
}

const pg = (creds: string, extra = '') =>
  `version: "2"\nservices:\n  app:\n    connector: pg\n    listenOn: tcp://127.0.0.1:15432\n    credentials:\n      host: db\n      username: app\n${creds}${extra}`;

test('misspelt names get a suggestion', () => {
  const messages = (text: string) => issues(text).map((i) => `${i.path}: ${i.message}`);
  assert.match(messages('version: "2"\nservices:\n  app:\n    conector: pg\n    listenOn: tcp://127.0.0.1:1\n').join('\n'), /services\.app\.conector: unknown key 'conector' \(did you mean 'connector'\?\)/);
  assert.match(messages('version: "2"\nservices:\n  app:\n    connector: pg\n    listenon: tcp://127.0.0.1:1\n    credentails: {}\n').join('\n'), /unknown key 'listenon' \(did you mean 'listenOn'\?\)[\s\S]*unknown key 'credentails' \(did you mean 'credentials'\?\)/);
  assert.match(messages('version: "2"\nservices:\n  app:\n    connector: postgress\n    listenOn: tcp://127.0.0.1:1\n').join('\n'), /unknown connector 'postgress'/);
  assert.match(messages('version: "2"\nservices:\n  app:\n    connector: mysq\n    listenOn: tcp://127.0.0.1:1\n').join('\n'), /unknown connector 'mysq' \(did you mean 'mysql'\?\)/);
  assert.match(messages(pg('      password: { from: keychian, get: a#b }\n')).join('\n'), /unknown provider 'keychian' \(did you mean 'keychain'\?\)/);
  assert.match(messages(pg('', '    config:\n      databse: app\n')).join('\n'), /unknown setting 'databse' for connector 'pg' \(did you mean 'database'\?\)/);
});

test('a pg credential one typo from a known key is an error with the suggestion; real startup parameters pass', () => {
  for (const [typo, meant] of [['pasword', 'password'], ['sslmod', 'sslmode'], ['usrname', 'username']] as const) {
    const found = issues(pg(`      ${typo}: { from: env, get: X }\n`));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]!.path, `services.app.credentials.${typo}`);
    assert.match(found[0]!.message, new RegExp(`\\(did you mean '${meant}'\\?\\): other keys are startup parameters sent to PostgreSQL`));
  }
  assert.deepEqual(issues(pg('      application_name: reports\n      search_path: app\n      sslpassword: { from: env, get: Y }\n      options: -c statement_timeout=5s\n      password: { from: env, get: X }\n')), []);
});

test('suggestions stay close: no wild guesses', () => {
  assert.equal(closest('pasword', ['password', 'port']), 'password');
  assert.equal(closest('application_name', ['host', 'port', 'username', 'password', 'sslmode']), undefined);
  assert.equal(closest('x', ['host']), undefined);
});
