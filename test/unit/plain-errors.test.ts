// Issue 12, point 7: errors a user reads carry no raw internals. Real failures, not
// hand-made error objects: a keychain call with no Secret Service on the bus, and fetch
// to a blocked port and to a closed one, as an OIDC issuer misconfigured would be.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeychainUnavailable, nativeKeychainWriter } from '../../broker/config/write.js';
import { describe } from '../../broker/identity/oidc-calls.js';
import { closedPort } from '../fixtures/free-port.js';

test('no Secret Service: one plain sentence, no D-Bus message', async () => {
  process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/secretless-test-bus';
  for (const call of [() => nativeKeychainWriter.set('secretless-desktop/t', 'password', 'value'), () => nativeKeychainWriter.exists('secretless-desktop/t', 'password')]) {
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KeychainUnavailable, String(err));
    assert.match(err.message, /the OS keychain is not available \(on Linux: is a Secret Service such as gnome-keyring running and unlocked\?\)/);
    assert.doesNotMatch(err.message, /dbus|D-Bus|org\.freedesktop|nonexistent/i);
    assert.doesNotMatch(err.message, /value/);
  }
});

test('an issuer on a port fetch refuses, or on a closed port, is explained without "fetch failed (bad port)"', async () => {
  const blocked = await fetch('http://127.0.0.1:6000/.well-known/openid-configuration').catch((e: unknown) => e);
  assert.equal(describe(blocked), "the issuer could not be reached: its port is one fetch refuses to use (a port reserved for other protocols, like 1 or 6000): give the issuer another port");
  const closed = await fetch(`http://127.0.0.1:${await closedPort()}/`).catch((e: unknown) => e);
  assert.equal(describe(closed), 'the issuer could not be reached: connection refused (is the identity provider running on that port?)');
  // Wrapped by openid-client: the cause is the fetch error.
  assert.equal(describe(new Error('something went wrong', { cause: closed })), describe(closed));
});
