// Workload identities in a real `serve` process, the way a CI job or a pod runs it:
//  - github-actions: the runner's ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, a GitHub-style
//    token service (bearer-checked, audience parameter, RS256 tokens whose JWKS the STS
//    stand-in verifies) → STS AssumeRoleWithWebIdentity → an RDS IAM token → psql into a
//    real PostgreSQL that checks the token through its `ldap` auth method, RDS-style;
//    the token is fetched again before it expires;
//  - token-file: a Kubernetes-style projected token (`..data` symlink swapped on
//    rotation) picked up without a restart;
//  - token-env: a GitLab-style `id_tokens:` variable; one with the wrong audience is
//    refused before it is sent anywhere, with a clear message in psql;
//  - `status` shows each identity's type, subject, audience and expiry; no token, key or
//    password in the output or in any file under the temp dirs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../fixtures/free-port.js';
import { launchChromium } from '../fixtures/ui-broker.js';
import { claimsOf, startGithubTokenStandin, type GithubTokenStandin } from '../fixtures/github-token-standin.js';
import { startPgCluster, type PgCluster } from '../fixtures/pg-cluster.js';
import { clientEnv, psql, run } from '../fixtures/run.js';
import { CLI, startServe, type ServeProcess } from '../fixtures/serve.js';
import { startAwsStandin, startRdsIamAuthenticator, type AwsStandin } from '../fixtures/sts-standin.js';
import { waitFor } from '../fixtures/wait-for.js';

const OUT = join(process.cwd(), 'test-output');
const ROLE = 'arn:aws:iam::123456789012:role/ci-db';
const STS_AUDIENCE = 'sts.amazonaws.com';
let gh: GithubTokenStandin;
let aws: AwsStandin;
let cluster: PgCluster;
let rdsAuth: Awaited<ReturnType<typeof startRdsIamAuthenticator>>;
let dir: string;
let tokenDir: string;
let serve: ServeProcess;
const ports: Record<string, number> = {};
const env = () => clientEnv({ XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: join(dir, 'config'), AWS_EC2_METADATA_DISABLED: 'true' });
let gitlabGood: string;
let gitlabWrongAud: string;
const k8sTokens: string[] = [];

/** Kubernetes' atomic writer: a new timestamped dir, `..data` re-pointed at it in one rename. */
function projectToken(token: string, generation: number): void {
  const ts = `..2026_12_01_00_00_${String(generation).padStart(2, '0')}`;
  mkdirSync(join(tokenDir, ts));
  writeFileSync(join(tokenDir, ts, 'token'), token, { mode: 0o644 });
  symlinkSync(ts, join(tokenDir, '..data_tmp'));
  renameSync(join(tokenDir, '..data_tmp'), join(tokenDir, '..data'));
  if (generation === 0) symlinkSync('..data/token', join(tokenDir, 'token'));
  for (const old of readdirSync(tokenDir)) if (old.startsWith('..2026') && old !== ts) rmSync(join(tokenDir, old), { recursive: true });
}

function rdsService(name: string, aws: string): string {
  return `  ${name}:
    connector: pg
    listenOn: tcp://127.0.0.1:${ports[name]}
    verboseClientErrors: true
    credentials:
      host: 127.0.0.1
      port: ${cluster.port}
      username: iam_user
      password: { from: aws-rds-iam, get: "${aws}:iam_user@127.0.0.1:${cluster.port}" }
      sslmode: require
`;
}

const awsEntry = (name: string, identity: string) => `  ${name}:
    type: aws
    identity: ${identity}
    roleArn: ${ROLE}
    region: ${aws.region}
    endpoints: { sts: "${aws.endpoint}" }
`;

before(async () => {
  // Shorter than GitHub's 5 minutes, so the renewal a margin before expiry happens during the test.
  gh = await startGithubTokenStandin({ ttlSeconds: 75 });
  aws = await startAwsStandin({ issuer: gh.issuer, audience: STS_AUDIENCE, roles: { [ROLE]: { maxSessionDuration: 3600 } } });
  cluster = await startPgCluster({ tls: true });
  rdsAuth = await startRdsIamAuthenticator(aws, { host: '127.0.0.1', port: cluster.port });
  await cluster.psql('CREATE ROLE iam_user LOGIN');
  const hba = join(cluster.dataDir, 'pg_hba.conf');
  const ldap = `hostssl all iam_user 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport=${rdsAuth.port} ldapprefix="cn=" ldapsuffix=",dc=rds"\n`;
  await writeFile(hba, ldap + (await readFile(hba, 'utf8')));
  await cluster.psql('SELECT pg_reload_conf()');

  dir = mkdtempSync(join(tmpdir(), 'sd-workload-'));
  tokenDir = join(dir, 'serviceaccount');
  mkdirSync(tokenDir);
  k8sTokens.push(gh.mint({ aud: STS_AUDIENCE, sub: 'system:serviceaccount:shop:api' }, 3600));
  projectToken(k8sTokens[0]!, 0);
  gitlabGood = gh.mint({ aud: STS_AUDIENCE, sub: 'project_path:acme/app:ref_type:branch:ref:main' }, 3600);
  gitlabWrongAud = gh.mint({ aud: 'https://gitlab.example.com', sub: 'project_path:acme/app:ref_type:branch:ref:main' }, 3600);
  for (const name of ['rds-ci', 'rds-k8s', 'rds-gitlab', 'rds-wrong']) ports[name] = await freePort();
  const configPath = join(dir, 'secretless.yml');
  writeFileSync(
    configPath,
    `version: "2"
identities:
  ci:
    type: github-actions
    audience: ${STS_AUDIENCE}
  k8s:
    type: token-file
    path: ${join(tokenDir, 'token')}
    audience: ${STS_AUDIENCE}
  gitlab:
    type: token-env
    variable: GITLAB_OIDC_TOKEN
    audience: ${STS_AUDIENCE}
  wrong:
    type: token-env
    variable: OTHER_OIDC_TOKEN
    audience: ${STS_AUDIENCE}
${awsEntry('aws-ci', 'ci')}${awsEntry('aws-k8s', 'k8s')}${awsEntry('aws-gitlab', 'gitlab')}${awsEntry('aws-wrong', 'wrong')}services:
${rdsService('rds-ci', 'aws-ci')}${rdsService('rds-k8s', 'aws-k8s')}${rdsService('rds-gitlab', 'aws-gitlab')}${rdsService('rds-wrong', 'aws-wrong')}`,
  );
  serve = startServe(['--ui', '-f', configPath, '--audit-log', join(dir, 'audit.jsonl'), '--log-level', 'debug'], {
    ...env(),
    ...gh.runnerEnv,
    GITLAB_OIDC_TOKEN: gitlabGood,
    OTHER_OIDC_TOKEN: gitlabWrongAud,
  });
  await serve.ready();
});

after(async () => {
  await serve?.stop();
  await rdsAuth?.stop();
  await aws?.stop();
  await gh?.stop();
  await cluster?.stop();
});

const currentUser = (service: string) => psql('127.0.0.1', ports[service]!, 'select current_user');
const status = () => run(process.execPath, [CLI, 'status', '--json'], { env: env(), timeoutMs: 30_000 });
type Session = { name: string; type?: string; subject?: string; audience?: string; state: string; expiresAt?: string; reason?: string; issuer: string };
async function sessions(): Promise<Session[]> {
  const r = await status();
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { sessions: Session[] }).sessions;
}

test('github-actions: the runner token → STS → RDS IAM token → psql, and the token is fetched again before it expires', async () => {
  const r = await currentUser('rds-ci');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'iam_user');
  assert.ok(gh.issued.length >= 1 && gh.issued.every((t) => t.audience === STS_AUDIENCE), 'asked for the configured audience');
  assert.equal(gh.refused, 0, 'the runner bearer was accepted');
  const assumed = aws.issued.find((c) => c.subject === gh.subject);
  assert.ok(assumed, 'STS verified the GitHub token and assumed the role for its subject');
  assert.ok(rdsAuth.accepted >= 1, 'the RDS-style verifier accepted the IAM token');

  const first = gh.issued[0]!;
  await waitFor('a second GitHub token before the first expires', () => gh.issued.length >= 2, 60_000);
  assert.ok(gh.issued[1]!.at < first.expiresAt, 'renewed before expiry');
  const ci = (await sessions()).find((s) => s.name === 'ci')!;
  assert.equal(ci.type, 'github-actions');
  assert.equal(ci.state, 'active');
  assert.equal(ci.subject, 'repo:acme/app:ref:refs/heads/main');
  assert.equal(ci.audience, STS_AUDIENCE);
  assert.equal(ci.issuer, gh.issuer);
  assert.ok(Date.parse(ci.expiresAt!) > first.expiresAt.getTime(), 'status shows the renewed token expiry');
  const again = await currentUser('rds-ci');
  assert.equal(again.stdout.trim(), 'iam_user', again.stderr);
});

test('token-file: a Kubernetes-style rotation (..data swapped) is picked up without a restart', async () => {
  const r = await currentUser('rds-k8s');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'iam_user');
  assert.ok(aws.issued.some((c) => c.subject === 'system:serviceaccount:shop:api'));

  const mark = serve.output().length;
  // The kubelet's rotation: the same service account, a later expiry.
  k8sTokens.push(gh.mint({ aud: STS_AUDIENCE, sub: 'system:serviceaccount:shop:api' }, 7200));
  projectToken(k8sTokens[1]!, 1);
  await serve.waitFor(/identity token renewed identity=k8s/, mark);
  const k8s = (await sessions()).find((s) => s.name === 'k8s')!;
  assert.equal(k8s.type, 'token-file');
  assert.equal(k8s.state, 'active');
  assert.equal(k8s.subject, 'system:serviceaccount:shop:api');
  assert.equal(Date.parse(k8s.expiresAt!) / 1000, claimsOf(k8sTokens[1]!).exp, 'status shows the rotated token');
  assert.match(readFileSync(join(dir, 'audit.jsonl'), 'utf8'), /"type":"identity.refreshed","identity":"k8s"/);
  const r2 = await currentUser('rds-k8s');
  assert.equal(r2.stdout.trim(), 'iam_user', r2.stderr);
});

test('token-env: a GitLab id_tokens variable works; one with the wrong audience is refused before it is sent anywhere', async () => {
  const ok = await currentUser('rds-gitlab');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'iam_user');

  const before = aws.calls.assumeRole;
  const refused = await currentUser('rds-wrong');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /identity 'wrong' \(token-env\) has no usable token: the token's audience \(aud: 'https:\/\/gitlab\.example\.com'\) is not the configured 'sts\.amazonaws\.com'; it was not used/);
  assert.equal(aws.calls.assumeRole, before, 'the token never reached STS');
  const wrong = (await sessions()).find((s) => s.name === 'wrong')!;
  assert.equal(wrong.state, 'refresh-failed');
  assert.match(wrong.reason!, /audience/);

  const text = await run(process.execPath, [CLI, 'status'], { env: env(), timeoutMs: 30_000 });
  assert.match(text.stdout, /IDENTITY\s+TYPE\s+ISSUER\s+STATE\s+EXPIRES/);
  assert.match(text.stdout, /^ci\s+github-actions\s+http:\/\/127\.0\.0\.1:\d+\s+active\s+in (\d+m )?\d+s$/m);
  assert.match(text.stdout, /^ci: subject repo:acme\/app:ref:refs\/heads\/main, audience sts\.amazonaws\.com$/m);
  assert.match(text.stdout, /^gitlab: subject project_path:acme\/app:ref_type:branch:ref:main, audience sts\.amazonaws\.com$/m);
});

test('the app lists the workload identities with type, subject, audience and expiry, and no login button', async () => {
  const { url, token } = await serve.ready();
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
    await page.goto(`${url}/#token=${token}`);
    const ci = page.getByRole('listitem', { name: 'Identity ci' });
    await ci.getByText('Token valid').waitFor();
    const text = (await ci.textContent()) ?? '';
    assert.match(text, /github-actions · subject repo:acme\/app:ref:refs\/heads\/main · audience sts\.amazonaws\.com/);
    assert.match(text, new RegExp(gh.issuer.replace(/[.]/g, '\\.')));
    await ci.locator('.expiry').waitFor();
    assert.equal(await ci.getByRole('button').count(), 0, 'nothing to log in to');
    const wrong = page.getByRole('listitem', { name: 'Identity wrong' });
    await wrong.getByText(/No usable token: the token's audience/).waitFor();
    mkdirSync(OUT, { recursive: true });
    await page.getByRole('heading', { name: 'Identity sessions' }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'workload-identities.png'), fullPage: true });
    const html = await page.content();
    for (const t of [...gh.issued.map((i) => i.token), gitlabGood, gitlabWrongAud, ...k8sTokens]) assert.ok(!html.includes(t), 'a token on the page');
  } finally {
    await browser.close();
  }
});

test('no token, key or password in the output, the audit log or any file the broker wrote', async () => {
  const secrets = [
    ...gh.issued.map((t) => t.token),
    gh.runnerEnv.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    gitlabGood,
    gitlabWrongAud,
    ...k8sTokens,
    ...aws.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]),
    ...rdsAuth.tokensSeen,
  ];
  assert.ok(rdsAuth.tokensSeen.length >= 3);
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (p === tokenDir) continue; // the platform's own token file
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  walk(dir);
  assert.ok(files.some((f) => f.endsWith('audit.jsonl')));
  const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
  assert.match(audit, /"type":"identity.login","identity":"ci","flow":"github-actions"/);
  assert.match(audit, /"type":"identity.failed","identity":"wrong","step":"token"/);
  const everything = [serve.output(), ...files.filter((f) => statSync(f).size < 10_000_000).map((f) => readFileSync(f, 'utf8'))].join('\n');
  for (const s of secrets) assert.ok(!everything.includes(s), 'a secret leaked');
});
