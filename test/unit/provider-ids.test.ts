// Id formats of the identity-backed providers, and their refusals, which name the id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRdsId } from '../../broker/credentials/providers/aws-rds-iam.js';
import { parseSecretsManagerId } from '../../broker/credentials/providers/aws-secrets-manager.js';
import { createAwsStsProvider } from '../../broker/credentials/providers/aws-sts.js';
import { parseVaultId } from '../../broker/credentials/providers/vault.js';
import type { AwsCredentialSource } from '../../broker/identity/aws-credentials.js';

test('aws-rds-iam ids: AWS:USER@HOST:PORT, IPv6 in brackets', () => {
  assert.deepEqual(parseRdsId('dev:app@db.x.rds.amazonaws.com:5432'), { entry: 'dev', user: 'app', host: 'db.x.rds.amazonaws.com', port: 5432 });
  assert.deepEqual(parseRdsId('dev:a@b@[::1]:3306'), { entry: 'dev', user: 'a@b', host: '::1', port: 3306 });
  for (const bad of ['dev:app@host', 'app@host:5432', 'dev:app@host:0', 'dev:app@host:70000', 'dev:@host:1']) assert.equal(parseRdsId(bad), undefined, bad);
});

test('aws-secrets-manager ids: names and ARNs, optional #field', () => {
  assert.deepEqual(parseSecretsManagerId('dev:prod/db#password'), { entry: 'dev', secretId: 'prod/db', field: 'password' });
  assert.deepEqual(parseSecretsManagerId('dev:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf#user'), {
    entry: 'dev',
    secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf',
    field: 'user',
  });
  assert.deepEqual(parseSecretsManagerId('dev:plain'), { entry: 'dev', secretId: 'plain' });
  for (const bad of ['noentry', 'dev:', 'dev:x#', ':x']) assert.equal(parseSecretsManagerId(bad), undefined, bad);
});

test('vault ids: VAULT:PATH#FIELD, slashes trimmed', () => {
  assert.deepEqual(parseVaultId('v:/database/creds/app/#password'), { entry: 'v', path: 'database/creds/app', field: 'password' });
  assert.deepEqual(parseVaultId('v:secret/data/a#b#c'), { entry: 'v', path: 'secret/data/a', field: 'b#c' });
  for (const bad of ['v:path', 'path#f', 'a/b:c#d']) assert.equal(parseVaultId(bad), undefined, bad);
});

test('aws-sts refuses an unknown field before any call, naming the id', async () => {
  let calls = 0;
  const aws = { assumed: async () => void calls++ } as unknown as AwsCredentialSource;
  const p = createAwsStsProvider({ aws, timeoutMs: 1000 });
  await assert.rejects(p.get(['dev#password'], { signal: new AbortController().signal }), /provider 'aws-sts' could not get 'dev#password': the id must have the form AWS#field/);
  assert.equal(calls, 0);
});
