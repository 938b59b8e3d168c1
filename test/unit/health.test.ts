// Target health from the audit records (issue 12, point 2): what the last login showed,
// the listener, and the identity session joined into one verdict.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEvent, AuditRecord } from '../../broker/audit/types.js';
import type { BrokerErrorCode } from '../../broker/errors.js';
import { createHealthTracker, healthProblemFor, healthText, isUnhealthy, targetHealth } from '../../broker/health.js';

let clock = Date.parse('2026-01-01T12:00:00Z');
const rec = (e: AuditEvent): AuditRecord => ({ ...e, time: new Date((clock += 1000)).toISOString() }) as AuditRecord;
const failed = (code: BrokerErrorCode, reason: string) => rec({ type: 'connection.failed', service: 'db', connectionId: 'c', code, reason });

test('each catalog code maps to the problem a user recognises; client-caused failures say nothing about the target', () => {
  assert.equal(healthProblemFor('target_rejected_credentials', 'x'), 'credentials-rejected');
  assert.equal(healthProblemFor('target_unreachable', 'x'), 'unreachable');
  assert.equal(healthProblemFor('provider_failed', 'x'), 'provider-failed');
  assert.equal(healthProblemFor('tls_failed', 'x'), 'tls-failed');
  assert.equal(healthProblemFor('host_key_mismatch', 'x'), 'tls-failed');
  assert.equal(healthProblemFor('timeout', "the target of service 'db' did not complete the login in time"), 'unreachable');
  assert.equal(healthProblemFor('timeout', 'no startup message within 10 s'), undefined);
  assert.equal(healthProblemFor('timeout', "the client did not authenticate to service 'box' in time"), undefined);
  assert.equal(healthProblemFor('protocol_violation', 'the client closed the connection before authenticating'), undefined);
  assert.equal(healthProblemFor('unsupported_auth', 'x'), 'failed');
});

test('the tracker: failure with the reason and the last ok, ignoring client faults, recovering on the next success, reset by a restart', () => {
  const t = createHealthTracker();
  assert.equal(t.history('db'), undefined);
  const ok = rec({ type: 'connection.authenticated', service: 'db', connectionId: 'c', target: 'h:5432', tls: false, authMethod: 'scram' });
  assert.deepEqual(t.observe(ok), ['db']);
  assert.deepEqual(t.history('db'), { type: 'ok', at: ok.time });
  const bad = failed('target_rejected_credentials', 'password authentication failed for user "app"');
  t.observe(bad);
  assert.deepEqual(t.history('db'), { type: 'credentials-rejected', at: bad.time, code: 'target_rejected_credentials', reason: 'password authentication failed for user "app"', lastOkAt: ok.time });
  assert.deepEqual(t.observe(failed('protocol_violation', 'the client sent a malformed message')), []);
  assert.equal(t.history('db')?.type, 'credentials-rejected');
  const tested = rec({ type: 'target.tested', service: 'db', connectionId: 't', target: 'h:5432', authMethod: 'scram', latencyMs: 12 });
  t.observe(tested);
  assert.deepEqual(t.history('db'), { type: 'ok', at: tested.time, latencyMs: 12 });
  t.observe(rec({ type: 'service.started', service: 'db', address: 'tcp://127.0.0.1:1' }));
  assert.equal(t.history('db'), undefined);
});

test('joined: listener state first, then a session that needs a login, then the login history', () => {
  const history = { type: 'ok' as const, at: '2026-01-01T12:00:00Z' };
  assert.deepEqual(targetHealth({ listener: { state: 'stopped' }, history }), { type: 'stopped' });
  assert.equal(targetHealth({ listener: { state: 'failed', reason: 'address in use' } }).type, 'listener-failed');
  assert.deepEqual(targetHealth({ listener: { state: 'listening' } }), { type: 'listening' });
  assert.deepEqual(targetHealth({ listener: { state: 'listening' }, history }), history);
  const needs = targetHealth({ listener: { state: 'listening' }, history, session: { name: 'corp', state: 'login-needed' } });
  assert.equal(needs.type, 'needs-login');
  assert.ok(needs.type === 'needs-login' && /secretless-desktop login corp/.test(needs.reason));
  assert.ok(isUnhealthy(needs) && !isUnhealthy(history) && !isUnhealthy({ type: 'listening' }));
  assert.equal(healthText(history, Date.parse('2026-01-01T12:03:00Z')), 'last login ok 3 min ago');
});
