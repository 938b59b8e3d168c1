// The HTTP connectors' pure parts: generic_http templates, settings checked at load time
// with lines (unchanged Secretless configs load), request targets and header rewriting,
// Location mapping, and AWS SigV4 signatures checked with the SDK's own verifier.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseConfig } from '../../broker/config/parse.js';
import { ConfigError } from '../../broker/config/types.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { compileTemplate, renderTemplate, TemplateError } from '../../broker/connectors/http/template.js';
import { auditPath, clientHeaders, mapLocationForward, mapLocationReverse, resolveTarget, upstreamHeaders } from '../../broker/connectors/http/request-head.js';
import { Sha256 } from '../fixtures/sts-standin.js';
import { scopeFromAuthorization, scopeFromHost, signRequest } from '../../broker/connectors/http/sigv4.js';

const parse = (text: string) => parseConfig(text, { source: 'secretless.yml', connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain'] });

function issues(text: string): { line: number; path: string; message: string }[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

test('templates: variables, printf and base64 as Secretless generic_http configs use them', () => {
  const values = (k: string) => ({ token: 'tkn', username: 'u', password: 'p:w' })[k];
  assert.equal(renderTemplate(compileTemplate('Bearer {{ .token }}'), values), 'Bearer tkn');
  assert.equal(renderTemplate(compileTemplate('Basic {{ printf "%s:%s" .username .password | base64 }}'), values), `Basic ${Buffer.from('u:p:w').toString('base64')}`);
  assert.equal(renderTemplate(compileTemplate('{{ .username | base64 }}'), values), Buffer.from('u').toString('base64'));
  assert.equal(renderTemplate(compileTemplate('token {{- .token -}} x'), values), 'tokentknx');
  assert.deepEqual(compileTemplate('{{ .a }}-{{ printf "%s" .b }}').variables, ['a', 'b']);
  for (const bad of ['{{ .token', '{{ }}', '{{ exec .x }}', '{{ .token .other }}', '{{ "unterminated }}', '{{ base64 }}']) {
    assert.throws(() => compileTemplate(bad), TemplateError, bad);
  }
});

test('an unchanged Secretless generic_http, basic_auth and aws config loads', () => {
  const config = parse(`version: 2
services:
  github:
    connector: generic_http
    listenOn: tcp://0.0.0.0:8081
    allowRemote: true
    allowAnyUser: true
    credentials:
      token:
        from: env
        get: GITHUB_TOKEN
    config:
      credentialValidations:
        token: '[^:]+'
      forceSSL: true
      authenticateURLsMatching:
        - ^http[s]*\\:\\/\\/api\\.github\\.com*
      headers:
        Authorization: token {{ .token }}
  basic:
    connector: basic_auth
    listenOn: tcp://127.0.0.1:8082
    credentials:
      username: alice
      password: { from: keychain, get: svc#pw }
    config:
      authenticateURLsMatching: ^http
  aws:
    connector: aws
    listenOn: tcp://127.0.0.1:8083
    credentials:
      accessKeyId: { from: env, get: AWS_ACCESS_KEY_ID }
      secretAccessKey: { from: env, get: AWS_SECRET_ACCESS_KEY }
      accessToken: { from: env, get: AWS_SESSION_TOKEN }
    config:
      authenticateURLsMatching:
        - .*
`);
  assert.deepEqual(config.services.map((s) => s.connector), ['generic_http', 'basic_auth', 'aws']);
});

test('template and mode mistakes are config errors with the key path and line', () => {
  const found = issues(`version: 2
services:
  api:
    connector: http
    listenOn: tcp://127.0.0.1:9000
    credentials:
      token: { from: env, get: T }
    config:
      upstream: https://api.example.com/v1
      headers:
        Authorization: Bearer {{ .tokn }}
        X-Bad: "{{ .token"
  fwd:
    connector: generic_http
    listenOn: tcp://127.0.0.1:9001
    credentials: { token: t }
    config:
      authenticateURLsMatching: ["(unclosed"]
      headers: { Authorization: "Bearer {{ .token }}" }
  up:
    connector: http
    listenOn: tcp://127.0.0.1:9002
    credentials: { token: t }
    config: { upstream: "ftp://x" }
  none:
    connector: http
    listenOn: tcp://127.0.0.1:9003
    config: { upstream: "https://x" }
`);
  const at = (path: string) => found.find((i) => i.path === path);
  assert.equal(at('services.api.config.headers.Authorization')?.line, 11);
  assert.match(at('services.api.config.headers.Authorization')!.message, /unknown template variable \.tokn: the service's credentials are token/);
  assert.match(at('services.api.config.headers.X-Bad')!.message, /invalid template: unclosed action/);
  assert.equal(at('services.fwd.config.authenticateURLsMatching.0')?.line, 18);
  assert.match(at('services.up.config.upstream')!.message, /http:\/\/ or https:\/\//);
  assert.match(at('services.none.credentials')!.message, /no credentials to add/);
  assert.equal(found.length, 5, JSON.stringify(found, null, 2));
});

test('request targets: reverse joins the base path, forward matches patterns, refuses others, forceSSL upgrades', () => {
  const reverse = { type: 'reverse' as const, upstream: new URL('https://api.example.com/v1/') };
  const r = resolveTarget(reverse, '/users?id=1');
  assert.ok(r.type === 'ok');
  assert.equal(r.url.href, 'https://api.example.com/v1/users?id=1');
  assert.equal(resolveTarget(reverse, 'http://other/x').type, 'refused');
  const forward = { type: 'forward' as const, match: [/^http:\/\/api\.example\.com\//], forceSSL: true };
  const f = resolveTarget(forward, 'http://api.example.com/x');
  assert.ok(f.type === 'ok');
  assert.equal(f.url.href, 'https://api.example.com/x');
  const refused = resolveTarget(forward, 'http://evil.example.org/steal');
  assert.ok(refused.type === 'refused' && refused.status === 403);
  assert.match(refused.message, /evil\.example\.org/);
  assert.equal(resolveTarget({ ...forward, match: [] }, 'http://api.example.com/x').type, 'refused');
  assert.equal(auditPath('/a/b?token=secret'), '/a/b');
  assert.equal(auditPath('http://h/a?x=1'), '/a');
});

test('client credentials, hop-by-hop headers and headers named in Connection never go upstream', () => {
  const out = upstreamHeaders(
    ['Host', 'localhost:1', 'Authorization', 'Bearer mine', 'Proxy-Authorization', 'x', 'X-Amz-Security-Token', 't', 'Connection', 'keep-alive, X-Private', 'X-Private', 'p', 'X-Api-Key', 'k', 'Accept', 'a', 'Accept', 'b', 'Expect', '100-continue'],
    new URL('https://api.example.com/'),
    ['x-api-key'],
  );
  assert.deepEqual(out, { accept: ['a', 'b'], host: 'api.example.com' });
  const back = clientHeaders({ connection: 'close', 'keep-alive': 'x', location: 'https://api.example.com/v1/next', 'content-type': 'a' }, (v) => mapLocationReverse(v, new URL('https://api.example.com/v1'), 'http://127.0.0.1:9'));
  assert.deepEqual(back, { location: 'http://127.0.0.1:9/next', 'content-type': 'a' });
});

test('Location mapping keeps redirects on the broker and leaves other hosts alone', () => {
  const up = new URL('https://api.example.com/v1');
  const local = 'http://127.0.0.1:8080';
  assert.equal(mapLocationReverse('https://api.example.com/v1/a?b=1#c', up, local), 'http://127.0.0.1:8080/a?b=1#c');
  assert.equal(mapLocationReverse('/v1/a', up, local), '/a');
  assert.equal(mapLocationReverse('/other', up, local), '/other');
  assert.equal(mapLocationReverse('https://login.example.com/x', up, local), 'https://login.example.com/x');
  assert.equal(mapLocationReverse('https://api.example.com:8443/v1/a', up, local), 'https://api.example.com:8443/v1/a');
  assert.equal(mapLocationForward('https://api.example.com/next', new URL('http://api.example.com/x'), true), 'http://api.example.com/next');
  assert.equal(mapLocationForward('https://api.example.com/next', new URL('http://api.example.com/x'), false), 'https://api.example.com/next');
});

test('SigV4: scope from host or from a client signature; the signature verifies with the SDK signer', async () => {
  assert.deepEqual(scopeFromHost('s3.eu-west-1.amazonaws.com'), { service: 's3', region: 'eu-west-1' });
  assert.deepEqual(scopeFromHost('bucket.s3.us-west-2.amazonaws.com'), { service: 's3', region: 'us-west-2' });
  assert.deepEqual(scopeFromHost('sts.amazonaws.com'), { service: 'sts', region: 'us-east-1' });
  assert.deepEqual(scopeFromHost('abc.execute-api.ap-south-1.amazonaws.com'), { service: 'execute-api', region: 'ap-south-1' });
  assert.deepEqual(scopeFromHost('api.example.com'), {});
  assert.deepEqual(scopeFromAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-north-1/sqs/aws4_request, SignedHeaders=host, Signature=x'), { region: 'eu-north-1', service: 'sqs' });
  const keys = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };
  const url = new URL('http://127.0.0.1:4566/my-bucket/some%20key.txt?list-type=2&prefix=a');
  const now = new Date('2026-01-02T03:04:05Z');
  const added = await signRequest({ method: 'PUT', url, headers: { 'content-type': 'text/plain', 'user-agent': 'x' }, payloadHash: 'UNSIGNED-PAYLOAD', scope: { region: 'eu-west-1', service: 's3' }, keys, now });
  assert.equal(added['x-amz-date'], '20260102T030405Z');
  assert.equal(added['x-amz-security-token'], 'session-token');
  assert.match(added.authorization!, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/eu-west-1\/s3\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
  // Recompute as a server would, with the SDK's signer and the same inputs.
  const verifier = new SignatureV4({ service: 's3', region: 'eu-west-1', credentials: keys, sha256: Sha256, uriEscapePath: false });
  const expected = await verifier.sign(
    { method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: 4566, path: '/my-bucket/some%20key.txt', query: { 'list-type': '2', prefix: 'a' }, headers: { host: '127.0.0.1:4566', 'content-type': 'text/plain', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { signingDate: now },
  );
  assert.equal(added.authorization, expected.headers.authorization);
});

test("Secretless Broker's generic_http oauth1 (OAuth 1.0a signing, not supported): a config error naming the key and line, not unsigned requests", () => {
  // Secretless Broker's own example, examples/generic_connector_configs/oauth1_secretless.yml.
  const found = issues(`version: 2
services:
  generic-oauth1:
    connector: generic_http
    listenOn: tcp://127.0.0.1:8071
    credentials:
      consumer_key: { from: env, get: CK }
      consumer_secret: { from: env, get: CS }
      token: { from: env, get: T }
      token_secret: { from: env, get: TS }
    config:
      oauth1:
        consumer_key: "{{ .consumer_key }}"
        consumer_secret: "{{ .consumer_secret }}"
        token: "{{ .token }}"
        token_secret: "{{ .token_secret }}"
      forceSSL: true
      authenticateURLsMatching:
        - ^http[s]*
`);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]!.line, 12);
  assert.equal(found[0]!.path, 'services.generic-oauth1.config.oauth1');
  assert.match(found[0]!.message, /^OAuth 1\.0a request signing \(Secretless Broker's generic_http `oauth1`\) is not supported: the broker would send these requests unsigned/);
});
