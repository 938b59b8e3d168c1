// The sessions list says what a session's state means to the user: never the internal
// state name, and never "no expiry" for a session that has no token at all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IdentitySessionInfo, SessionState } from '../../broker/api.js';
import { sessionText } from '../../renderer/src/session-text.js';

const session = (state: SessionState, reason?: string): IdentitySessionInfo => ({ name: 'corp', issuer: 'https://login.example.com', state, ...(reason ? { reason } : {}) });

test('every session state reads as words, with the reason where there is one', () => {
  assert.equal(sessionText(session('active')), 'Logged in');
  assert.equal(sessionText(session('login-needed')), 'Not logged in');
  assert.equal(sessionText(session('login-needed', 'the refresh token was revoked')), 'Not logged in: the refresh token was revoked');
  assert.equal(sessionText(session('refresh-failed', 'the issuer did not answer')), 'Could not refresh: the issuer did not answer');
  for (const state of ['active', 'refreshing', 'refresh-failed', 'login-needed', 'logged-out'] as const) {
    const text = sessionText(session(state));
    assert.doesNotMatch(text, /no expiry|login-needed|logged-out|refresh-failed/);
  }
});

test('a workload identity has a token, not a login', () => {
  const workload = (state: SessionState, reason?: string): IdentitySessionInfo => ({ ...session(state, reason), type: 'github-actions', audience: 'sts.amazonaws.com' });
  assert.equal(sessionText(workload('active')), 'Token valid');
  assert.equal(sessionText(workload('refreshing')), 'Reading the token…');
  assert.equal(sessionText(workload('refresh-failed', "the token's audience (aud: 'x') is not the configured 'y'")), "No usable token: the token's audience (aud: 'x') is not the configured 'y'");
});
