// Workload identity sessions (broker/identity/workload/sessions.ts) without a network:
// token-file and token-env tokens checked before use (audience, expiry), a token file
// that appears later picked up by the directory watch, and states and reasons as
// `status` shows them. Never a token in audit or logs.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMemoryAudit } from '../../broker/audit/memory-audit.js';
import type { WorkloadIdentity } from '../../broker/identity/config.js';
import { createWorkloadSessions } from '../../broker/identity/workload/sessions.js';
import { createLogger } from '../../broker/log.js';
import { waitFor } from '../fixtures/wait-for.js';

/** An unsigned JWT: the broker reads claims only, the service it is sent to verifies. */
const jwt = (claims: Record<string, unknown>) =>
  [{ alg: 'RS256', typ: 'JWT' }, claims, 'sig'].map((p) => Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)).toString('base64url')).join('.');
const inOneHour = () => Math.floor(Date.now() / 1000) + 3600;

function setup(identities: WorkloadIdentity[], env: NodeJS.ProcessEnv = {}) {
  const audit = createMemoryAudit();
  const logs: string[] = [];
  const sessions = createWorkloadSessions({ audit, logger: createLogger({ level: 'debug', format: 'json', write: (l) => void logs.push(l) }), env });
  sessions.apply(identities);
  return { sessions, audit, logs, info: (name: string) => sessions.list().find((s) => s.name === name)! };
}
const signal = () => AbortSignal.timeout(5000);

test('token-env: the claims are shown, a token for another audience or an expired one is refused with the reason', async () => {
  const good = jwt({ iss: 'https://gitlab.example.com', sub: 'project_path:acme/app:ref_type:branch:ref:main', aud: ['https://vault.example.com', 'other'], exp: inOneHour() });
  const otherAud = jwt({ iss: 'https://gitlab.example.com', sub: 's', aud: 'https://gitlab.example.com', exp: inOneHour() });
  const expired = jwt({ iss: 'https://gitlab.example.com', sub: 's', aud: 'https://vault.example.com', exp: Math.floor(Date.now() / 1000) - 10 });
  const aud = 'https://vault.example.com';
  const { sessions, audit, logs, info } = setup(
    [
      { type: 'token-env', name: 'good', variable: 'GOOD', audience: aud, line: 1 },
      { type: 'token-env', name: 'aud', variable: 'AUD', audience: aud, line: 2 },
      { type: 'token-env', name: 'old', variable: 'OLD', audience: aud, line: 3 },
      { type: 'token-env', name: 'unset', variable: 'UNSET', audience: aud, line: 4 },
      { type: 'token-env', name: 'junk', variable: 'JUNK', audience: aud, line: 5 },
    ],
    { GOOD: good, AUD: otherAud, OLD: expired, JUNK: 'not-a-jwt' },
  );
  await sessions.resume();
  const t = await sessions.idToken('good', { signal: signal() });
  assert.equal(t.token, good);
  assert.deepEqual(info('good'), {
    name: 'good',
    type: 'token-env',
    issuer: 'https://gitlab.example.com',
    subject: 'project_path:acme/app:ref_type:branch:ref:main',
    audience: aud,
    state: 'active',
    expiresAt: t.expiresAt.toISOString(),
  });
  await assert.rejects(sessions.idToken('aud', { signal: signal() }), /identity 'aud' \(token-env\) has no usable token: the token's audience \(aud: 'https:\/\/gitlab.example.com'\) is not the configured 'https:\/\/vault.example.com'; it was not used/);
  await assert.rejects(sessions.idToken('old', { signal: signal() }), /the token expired at /);
  await assert.rejects(sessions.idToken('unset', { signal: signal() }), /the environment variable UNSET is not set/);
  await assert.rejects(sessions.idToken('junk', { signal: signal() }), /the token is not a JWT/);
  assert.equal(info('aud').state, 'refresh-failed');
  assert.equal(info('unset').issuer, '$UNSET', 'before a token: where it would come from');
  // Each failure is audited once, not once per retry.
  assert.equal(audit.records.filter((r) => r.type === 'identity.failed' && r.identity === 'aud').length, 1);
  const out = logs.join('') + JSON.stringify(audit.records);
  for (const s of [good, otherAud, expired]) assert.ok(!out.includes(s), 'a token leaked');
  sessions.close();
});

test('token-file: a file that appears later is picked up by the watch; a replaced file too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-wl-'));
  const path = join(dir, 'token');
  const { sessions, info } = setup([{ type: 'token-file', name: 'pod', path, audience: 'sts.amazonaws.com', line: 1 }]);
  await sessions.resume();
  assert.equal(info('pod').state, 'refresh-failed');
  assert.match(info('pod').reason!, /cannot read the token file .*token \(ENOENT\)/);
  writeFileSync(path, jwt({ iss: 'https://oidc.eks.example.com', sub: 'system:serviceaccount:shop:api', aud: 'sts.amazonaws.com', exp: inOneHour() }) + '\n');
  await waitFor('the token file to be read', () => info('pod').state === 'active');
  // Replaced by rename (a new inode), as `mv` or an atomic writer does.
  writeFileSync(join(dir, 'token.new'), jwt({ iss: 'https://oidc.eks.example.com', sub: 'system:serviceaccount:shop:api-v2', aud: 'sts.amazonaws.com', exp: inOneHour() + 60 }));
  const generation = sessions.generation('pod');
  renameSync(join(dir, 'token.new'), path);
  await waitFor('the replaced file to be read', () => info('pod').subject === 'system:serviceaccount:shop:api-v2');
  assert.notEqual(sessions.generation('pod'), generation, 'another subject: credentials of the old one are not reused');
  sessions.close();
});
