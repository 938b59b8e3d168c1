// The target login's signal (connectors/login-deadline.ts): the connection's abort or the
// deadline, whichever comes first, and nothing once the login is over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError } from '../../broker/net/abort.js';
import { loginDeadline } from '../../broker/connectors/login-deadline.js';

test('the deadline aborts with the timeout the client is told about', async () => {
  const deadline = loginDeadline(new AbortController().signal, 20);
  assert.equal(deadline.signal.aborted, false);
  await sleep(60);
  assert.equal(deadline.signal.aborted, true);
  assert.equal(abortError(deadline.signal, 'db').code, 'timeout');
});

test("the connection's abort passes through with its reason", () => {
  const connection = new AbortController();
  const deadline = loginDeadline(connection.signal, 10_000);
  const reason = new Error('service stopping');
  connection.abort(reason);
  assert.equal(deadline.signal.aborted, true);
  assert.equal(deadline.signal.reason, reason);
  deadline.done();
});

test('an already aborted connection gives an aborted signal', () => {
  const connection = new AbortController();
  connection.abort(new Error('gone'));
  assert.equal(loginDeadline(connection.signal, 10_000).signal.aborted, true);
});

test('after done() neither the deadline nor the connection aborts it', async () => {
  const connection = new AbortController();
  const deadline = loginDeadline(connection.signal, 20);
  deadline.done();
  await sleep(60);
  connection.abort();
  assert.equal(deadline.signal.aborted, false);
});
