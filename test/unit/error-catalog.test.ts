// The one error catalog: every code has its wire form in every protocol the broker
// speaks, and the forms clients rely on (the SSH disconnect reasons OpenSSH prints, the
// SQLSTATE classes psql reports, the HTTP statuses of the control API) are the right ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerError, CodedError, errorCatalog, SSH_DISCONNECT, toClientError, type BrokerErrorCode } from '../../broker/errors.js';

test('every code has a summary, a SQLSTATE, a MySQL errno in the server range, an HTTP status and an SSH disconnect reason', () => {
  for (const [code, e] of Object.entries(errorCatalog)) {
    assert.ok(e.summary.length > 0, code);
    assert.match(e.pgSqlState, /^[0-9A-Z]{5}$/, code);
    assert.ok(e.mysql.errno >= 1000 && e.mysql.errno < 2000, `${code}: libmariadb hides client-range errnos`);
    assert.match(e.mysql.sqlState, /^[0-9A-Z]{5}$/, code);
    assert.ok(e.httpStatus >= 400 && e.httpStatus < 600, code);
    assert.ok(Object.values(SSH_DISCONNECT).includes(e.sshDisconnect as never), code);
  }
});

test('the SSH column: what the ssh client is told per failure', () => {
  const reason = (code: BrokerErrorCode) => errorCatalog[code].sshDisconnect;
  assert.equal(reason('host_key_mismatch'), SSH_DISCONNECT.HOST_KEY_NOT_VERIFIABLE);
  assert.equal(reason('target_rejected_credentials'), SSH_DISCONNECT.NO_MORE_AUTH_METHODS_AVAILABLE);
  assert.equal(reason('target_unreachable'), SSH_DISCONNECT.CONNECTION_LOST);
  assert.equal(reason('protocol_violation'), SSH_DISCONNECT.PROTOCOL_ERROR);
  assert.equal(reason('service_stopping'), SSH_DISCONNECT.SERVICE_NOT_AVAILABLE);
  assert.equal(reason('internal'), SSH_DISCONNECT.BY_APPLICATION);
});

test('config problems have their own code: a configuration-file SQLSTATE and a 400 from the control API', () => {
  assert.equal(errorCatalog.config_invalid.pgSqlState, 'F0000');
  assert.equal(errorCatalog.config_invalid.httpStatus, 400);
  assert.equal(errorCatalog.invalid_input.httpStatus, 400);
  assert.equal(errorCatalog.packet_too_large.httpStatus, 413);
});

test('coded errors carry their code; only a BrokerError reaches a client with its message', () => {
  const coded = new CodedError('config_invalid', 'details for the log');
  assert.equal(coded.entry, errorCatalog.config_invalid);
  const shown = toClientError(coded);
  assert.equal(shown.code, 'internal');
  assert.doesNotMatch(shown.message, /details for the log/);
  const safe = new BrokerError('timeout', 'the target did not answer in time');
  assert.equal(toClientError(safe), safe);
  assert.equal(safe.name, 'BrokerError');
});
