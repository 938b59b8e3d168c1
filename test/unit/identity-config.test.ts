// The `identities:` section through parseConfig: a full valid example, and invalid
// entries reported with their key path and line, never a value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, type ParseOptions } from '../../broker/config/parse.js';
import { ConfigError, type ConfigIssue } from '../../broker/config/types.js';

const options: ParseOptions = {
  source: 'secretless.yml',
  connectors: [{ name: 'pg', requiredCredentials: ['host', 'password'], knownCredentials: 'any', configKeys: [] }],
  providers: ['env', 'file', 'keychain', 'aws-sts', 'aws-rds-iam', 'aws-secrets-manager', 'vault', 'gcp', 'azure'],
};
const yml = (...lines: string[]) => lines.join('\n') + '\n';
function issuesOf(text: string, opts: ParseOptions = options): ConfigIssue[] {
  try {
    parseConfig(text, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

const valid = yml(
  'version: "2"',
  'identities:',
  '  corp:',
  '    issuer: https://login.example.com/',
  '    clientId: secretless-desktop',
  '    scopes: openid offline_access email',
  '    audience: sts.amazonaws.com',
  '  headless:',
  '    issuer: http://127.0.0.1:8080',
  '    clientId: cli',
  '    flow: device_code',
  '    clientSecret: { from: keychain, get: "oidc#cli" }',
  '  dev:',
  '    type: aws',
  '    identity: corp',
  '    roleArn: arn:aws:iam::123456789012:role/db-dev',
  '    region: eu-west-1',
  '    durationSeconds: 7200',
  '    endpoints: { sts: "https://sts.eu-west-1.amazonaws.com" }',
  '  chain:',
  '    type: aws',
  '    region: us-east-1',
  '  vault:',
  '    type: vault',
  '    address: https://vault.example.com:8200',
  '    namespace: team',
  '    auth: { method: approle, roleId: app, secretId: { from: file, get: /run/secret-id } }',
  'services:',
  '  db:',
  '    connector: pg',
  '    listenOn: tcp://127.0.0.1:5433',
  '    credentials:',
  '      host: db',
  '      username: { from: vault, get: "vault:database/creds/app#username" }',
  '      password: { from: aws-rds-iam, get: "dev:app@db.example.com:5432" }',
  '      key: { from: aws-sts, get: "dev#accessKeyId" }',
  '      other: { from: aws-secrets-manager, get: "chain:prod/db#password" }',
);

test('a full identities section parses into typed entries with defaults', () => {
  const config = parseConfig(valid, options);
  const ids = config.identities!;
  assert.deepEqual(ids.map((i) => [i.name, i.type]), [['corp', 'oidc'], ['headless', 'oidc'], ['dev', 'aws'], ['chain', 'aws'], ['vault', 'vault']]);
  const corp = ids[0]!;
  assert.ok(corp.type === 'oidc');
  assert.equal(corp.issuer, 'https://login.example.com');
  assert.deepEqual(corp.scopes, ['openid', 'offline_access', 'email']);
  assert.equal(corp.flow, 'authorization_code');
  assert.equal(corp.redirectPort, 0);
  assert.equal(corp.line, 3);
  const headless = ids[1]!;
  assert.ok(headless.type === 'oidc' && headless.flow === 'device_code');
  assert.deepEqual(headless.clientSecret, { provider: 'keychain', id: 'oidc#cli', line: 8 });
  const dev = ids[2]!;
  assert.ok(dev.type === 'aws');
  assert.equal(dev.durationSeconds, 7200);
  assert.equal(dev.sessionName, 'secretless-desktop');
  const chain = ids[3]!;
  assert.ok(chain.type === 'aws' && chain.roleArn === undefined);
  const vault = ids[4]!;
  assert.ok(vault.type === 'vault' && vault.auth.method === 'approle' && vault.auth.mount === 'approle');
  assert.equal(vault.minLeaseTtlSeconds, 60);
});

test('a config without identities has none', () => {
  assert.equal(parseConfig(yml('version: "2"', 'services: {}'), options).identities, undefined);
  assert.equal(parseConfig(yml('version: "2"', 'identities:', 'services: {}'), options).identities, undefined);
});

test('invalid entries: each problem with its key path and line', () => {
  const issues = issuesOf(
    yml(
      'version: "2"',
      'identities:',
      '  corp:',
      '    issuer: http://login.example.com',
      '    clientid: x',
      '    flow: implicit',
      '  dev:',
      '    type: aws',
      '    identity: nobody',
      '    roleArn: arn:aws:iam::123456789012:role/x',
      '    region: eu-west-1',
      '  v:',
      '    type: vault',
      '    address: https://vault',
      '    auth: { method: token, token: hvs.literal-token-in-file }',
      '  x:',
      '    type: gcloud',
      '  y: { type: aws, region: r, identity: corp, roleArn: not-an-arn }',
      'services: {}',
    ),
  );
  const got = issues.map((i) => [i.line, i.path, i.message]);
  assert.deepEqual(got, [
    [3, 'identities.corp.clientId', 'missing `clientId`'],
    [4, 'identities.corp.issuer', 'must use https (plain http is accepted only for 127.0.0.1, ::1 and localhost)'],
    [5, 'identities.corp.clientid', "unknown key 'clientid': expected type, issuer, clientId, clientSecret, scopes, audience, flow, redirectPort"],
    [6, 'identities.corp.flow', 'must be authorization_code or device_code'],
    [9, 'identities.dev.identity', "'nobody' is not an oidc, github-actions, token-file or token-env identity in this file"],
    [15, 'identities.v.auth.token', 'must be {from: PROVIDER, get: ID} (secrets are not written in the config file)'],
    [17, 'identities.x.type', 'must be one of oidc, github-actions, token-file, token-env, aws, gcp, azure, vault'],
    [18, 'identities.y.roleArn', 'must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)'],
  ]);
  assert.ok(!JSON.stringify(issues).includes('hvs.literal-token-in-file'), 'a value was echoed');
});

test('credentials that name an identity must name an existing entry of the right type', () => {
  const issues = issuesOf(
    yml(
      'version: "2"',
      'identities:',
      '  vault: { type: vault, address: "https://v", auth: { method: jwt, role: r, identity: corp } }',
      '  corp: { issuer: "https://idp", clientId: c }',
      '  chain: { type: aws, region: eu-west-1 }',
      'services:',
      '  db:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5433',
      '    credentials:',
      '      host: db',
      '      password: { from: vault, get: "nope:kv/x#y" }',
      '      a: { from: aws-rds-iam, get: "vault:u@h:1" }',
      '      b: { from: aws-sts, get: "vault#accessKeyId" }',
      '      c: { from: vault, get: "no-colon" }',
      '      sslmode: disable',
    ),
  );
  assert.deepEqual(
    issues.map((i) => [i.line, i.path]),
    [
      [12, 'services.db.credentials.password.get'],
      [13, 'services.db.credentials.a.get'],
      [14, 'services.db.credentials.b.get'],
      [15, 'services.db.credentials.c.get'],
      [16, 'services.db.credentials.sslmode'],
    ],
  );
  assert.match(issues[0]!.message, /'nope' is not an entry of `identities:`/);
  assert.match(issues[1]!.message, /identity 'vault' has type vault, but aws-rds-iam needs a aws entry/);
  assert.match(issues[2]!.message, /identity 'vault' has type vault, but aws-sts needs a aws entry/);
  assert.match(issues[3]!.message, /the id must have the form VAULT:PATH#FIELD/);
  assert.match(issues[4]!.message, /aws-rds-iam tokens are only accepted over TLS/);
});

test('gcp and azure entries: federation with an identity, or the local gcloud / az login, with defaults', () => {
  const config = parseConfig(
    yml(
      'version: "2"',
      'identities:',
      '  corp: { issuer: "https://idp.example.com", clientId: c }',
      '  wif:',
      '    type: gcp',
      '    identity: corp',
      '    audience: //iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
      '    serviceAccount: db@proj.iam.gserviceaccount.com',
      '    endpoints: { sts: "https://sts.example.com" }',
      '  adc: { type: gcp }',
      '  entra: { type: azure, identity: corp, tenantId: contoso.onmicrosoft.com, clientId: 8b4f1c2e-0a55-4c1e-9d3b-5f0e6b7a1c21 }',
      '  az: { type: azure, scope: "https://management.azure.com/.default" }',
      'services:',
      '  db:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5433',
      '    credentials:',
      '      host: db',
      '      password: { from: gcp, get: wif }',
      '      other: { from: azure, get: entra }',
    ),
    options,
  );
  const [, wif, adc, entra, az] = config.identities!;
  assert.deepEqual(wif, {
    type: 'gcp',
    name: 'wif',
    identity: 'corp',
    audience: '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github',
    subjectTokenType: 'jwt',
    serviceAccount: 'db@proj.iam.gserviceaccount.com',
    lifetimeSeconds: 3600,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    endpoints: { sts: 'https://sts.example.com' },
    line: 4,
  });
  assert.ok(adc?.type === 'gcp' && adc.identity === undefined && adc.audience === undefined);
  assert.ok(entra?.type === 'azure');
  assert.equal(entra.scope, 'https://ossrdbms-aad.database.windows.net/.default');
  assert.equal(entra.authorityHost, 'https://login.microsoftonline.com');
  assert.ok(az?.type === 'azure' && az.identity === undefined && az.scope === 'https://management.azure.com/.default');
});

test('gcp and azure entries: wrong or missing settings name their key', () => {
  const issues = issuesOf(
    yml(
      'version: "2"',
      'identities:',
      '  corp: { issuer: "https://idp.example.com", clientId: c }',
      '  a: { type: gcp, identity: corp }',
      '  b: { type: gcp, identity: corp, audience: "projects/1/pools/x", serviceAccount: someone@gmail.com }',
      '  c: { type: gcp, identity: nobody, audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x", endpoints: { sts: "http://sts.example.com" } }',
      '  d: { type: azure, identity: corp }',
      '  e: { type: azure, clientId: x, tenantId: "not a tenant" }',
      '  f: { type: azure, identity: nobody, tenantId: contoso.com, clientId: x }',
      'services: {}',
    ),
  );
  assert.deepEqual(
    issues.map((i) => [i.path, i.message]),
    [
      ['identities.a.audience', '`identity` and `audience` go together (or leave both out for the gcloud application-default credentials)'],
      ['identities.b.audience', 'must be a workload identity pool provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER'],
      ['identities.b.serviceAccount', 'must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)'],
      ['identities.c.endpoints.sts', 'must use https (plain http is accepted only for 127.0.0.1, ::1 and localhost)'],
      ['identities.d.tenantId', 'missing `tenantId` (needed with `identity`)'],
      ['identities.d.clientId', 'missing `clientId`: the app registration that trusts the identity (needed with `identity`)'],
      ['identities.e.identity', '`clientId` needs `identity` (leave both out for the `az login` token cache)'],
      ['identities.e.tenantId', 'must be a directory (tenant) id or domain'],
      ['identities.f.identity', "'nobody' is not an oidc, github-actions, token-file or token-env identity in this file: expected corp"],
    ],
  );
});

test('workload identities: github-actions, token-file, token-env, each with the audience its token must carry', () => {
  const config = parseConfig(
    yml(
      'version: "2"',
      'identities:',
      '  ci: { type: github-actions, audience: sts.amazonaws.com }',
      '  pod: { type: token-file, path: /var/run/secrets/eks.amazonaws.com/serviceaccount/token, audience: sts.amazonaws.com }',
      '  gitlab: { type: token-env, variable: GITLAB_OIDC_TOKEN, audience: https://vault.example.com }',
      '  dev: { type: aws, identity: pod, roleArn: "arn:aws:iam::123456789012:role/db", region: eu-west-1 }',
      '  vault: { type: vault, address: "https://vault.example.com", auth: { method: jwt, role: ci, identity: gitlab } }',
      'services:',
      '  api:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5433',
      '    credentials:',
      '      host: db',
      '      password: { from: oidc, get: "ci#id_token" }',
    ),
    { ...options, providers: [...options.providers, 'oidc'] },
  );
  assert.deepEqual(config.identities!.slice(0, 3).map(({ line: _, ...i }) => i), [
    { type: 'github-actions', name: 'ci', audience: 'sts.amazonaws.com' },
    { type: 'token-file', name: 'pod', audience: 'sts.amazonaws.com', path: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' },
    { type: 'token-env', name: 'gitlab', audience: 'https://vault.example.com', variable: 'GITLAB_OIDC_TOKEN' },
  ]);

  const issues = issuesOf(
    yml(
      'version: "2"',
      'identities:',
      '  ci: { type: github-actions }',
      '  pod: { type: token-file, path: relative/token, audience: a }',
      '  env: { type: token-env, variable: "not a name", audience: a, issuer: https://x }',
      'services: {}',
    ),
    { ...options, providers: [...options.providers, 'oidc'] },
  );
  assert.deepEqual(
    issues.map((i) => [i.line, i.path, i.message]),
    [
      [3, 'identities.ci.audience', 'missing `audience`'],
      [4, 'identities.pod.path', 'must be an absolute path'],
      [5, 'identities.env.variable', 'must be an environment variable name'],
      [5, 'identities.env.issuer', "unknown key 'issuer': expected type, audience, variable"],
    ],
  );
  const bearer = issuesOf(
    yml(
      'version: "2"',
      'identities:',
      '  ci: { type: github-actions, audience: https://api.example.com }',
      'services:',
      '  api:',
      '    connector: pg',
      '    listenOn: tcp://127.0.0.1:5433',
      '    credentials:',
      '      host: db',
      '      password: { from: oidc, get: "ci#access_token" }',
    ),
    { ...options, providers: [...options.providers, 'oidc'] },
  );
  assert.deepEqual(
    bearer.map((i) => [i.line, i.path, i.message]),
    [[10, 'services.api.credentials.password.get', "identity 'ci' has type github-actions: it gives an ID token only (ci#id_token)"]],
  );
});
