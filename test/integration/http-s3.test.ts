// S3 through the broker's `aws` service: the real `aws s3 cp` (Debian's awscli) with
// --no-sign-request, the broker signing every request, and the S3 stand-in
// (fixtures/s3-standin.ts) authenticating each one as S3 does, x-amz-content-sha256 in
// the canonical request. Bodies stream: single PUT/GET of a large object with flat broker
// memory, multipart uploads and ranged downloads, aws-chunked uploads with unsigned
// trailers. Presigned URLs pass through untouched.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../fixtures/broker.js';
import { run } from '../fixtures/run.js';
import { startS3Standin, type S3Keys, type S3Standin } from '../fixtures/s3-standin.js';

const AWS = '/usr/bin/aws';
const KEYS: S3Keys = { accessKeyId: 'AKIAS3STANDIN0000001', secretAccessKey: `s3-secret-${randomBytes(12).toString('hex')}` };
let dir: string;
let s3: S3Standin;
let tb: TestBroker;
const outputs: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sl-s3-test-'));
  s3 = await startS3Standin({ keys: [KEYS], buckets: ['data'] });
  tb = await startTestBroker(
    `version: "2"
services:
  s3:
    connector: aws
    listenOn: tcp://127.0.0.1:0
    credentials:
      accessKeyId: { from: env, get: AKID }
      secretAccessKey: { from: env, get: SECRET }
    config: { upstream: "${s3.endpoint}", region: eu-west-1, service: s3 }
`,
    { env: { AKID: KEYS.accessKeyId, SECRET: KEYS.secretAccessKey } },
  );
  // The CLI's own settings: one request per object up to 2 GB (the streaming case), or its defaults (multipart above 8 MB).
  writeFileSync(join(dir, 'single'), '[default]\ns3 =\n  multipart_threshold = 2GB\n');
});

after(async () => {
  await tb?.stop();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const broker = () => `http://${tb.tcp('s3').host}:${tb.tcp('s3').port}`;

/** The aws CLI with no credentials anywhere (an empty home, no env keys). */
async function aws(args: string[], config: 'defaults' | 'single' = 'defaults') {
  const env = { PATH: process.env.PATH ?? '', HOME: dir, AWS_CONFIG_FILE: join(dir, config === 'single' ? 'single' : 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
  const r = await run(AWS, ['--no-sign-request', '--endpoint-url', broker(), '--region', 'eu-west-1', '--no-progress', ...args], { env, timeoutMs: 600_000 });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function curl(args: string[]) {
  const r = await run('curl', ['-sS', '--max-time', '60', ...args]);
  outputs.push(r.stdout, r.stderr);
  return r;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

test('aws s3 cp up and down: the broker signs with UNSIGNED-PAYLOAD, S3 accepts the signature, the bytes come back', async () => {
  const src = join(dir, 'small.bin');
  writeFileSync(src, randomBytes(100_000));
  const up = await aws(['s3', 'cp', src, 's3://data/small.bin']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(s3.objectSize('data', 'small.bin'), 100_000);
  assert.deepEqual(s3.refused, []);
  assert.ok(s3.authenticated.includes('UNSIGNED-PAYLOAD'));
  const back = join(dir, 'small.back');
  const down = await aws(['s3', 'cp', 's3://data/small.bin', back]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(readFileSync(back), readFileSync(src));
  const put = tb.audit.records.find((r) => r.type === 'http.request' && r.method === 'PUT');
  assert.ok(put && put.type === 'http.request' && put.status === 200 && put.path === '/data/small.bin');
});

test('multipart: a 20 MB upload in parts and a ranged download, each request signed', async () => {
  const src = join(dir, 'parts.bin');
  writeFileSync(src, randomBytes(20 * 1024 * 1024));
  const before = s3.authenticated.length;
  const up = await aws(['s3', 'cp', src, 's3://data/parts.bin']);
  assert.equal(up.code, 0, up.stderr);
  // CreateMultipartUpload, three UploadParts, CompleteMultipartUpload.
  assert.ok(s3.authenticated.length - before >= 5, `${s3.authenticated.length - before} requests`);
  const back = join(dir, 'parts.back');
  const down = await aws(['s3', 'cp', 's3://data/parts.bin', back]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await sha256File(back), await sha256File(src));
  assert.deepEqual(s3.refused, []);
  assert.ok(tb.audit.records.some((r) => r.type === 'http.request' && r.method === 'GET' && r.status === 206), 'ranged GETs');
});

test('a 256 MB object in one PUT and one GET streams through the broker with flat memory', { timeout: 900_000 }, async () => {
  const MB = 1024 * 1024;
  const src = join(dir, 'large.bin');
  // Written 1 MB at a time, so this process holds none of it when the sampling starts.
  const fd = openSync(src, 'w');
  for (let i = 0; i < 256; i++) writeSync(fd, randomBytes(MB));
  closeSync(fd);
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 100);
  const base = process.memoryUsage().rss;
  const back = join(dir, 'large.back');
  try {
    const up = await aws(['s3', 'cp', src, 's3://data/large.bin'], 'single');
    assert.equal(up.code, 0, up.stderr);
    const down = await aws(['s3', 'cp', 's3://data/large.bin', back], 'single');
    assert.equal(down.code, 0, down.stderr);
  } finally {
    clearInterval(sampler);
  }
  assert.equal(s3.objectSize('data', 'large.bin'), 256 * MB);
  assert.equal(await sha256File(back), await sha256File(src));
  const puts = tb.audit.records.filter((r) => r.type === 'http.request' && r.method === 'PUT' && r.path === '/data/large.bin');
  assert.equal(puts.length, 1, 'one request for the whole object');
  const peak = Math.max(...rss) - base;
  // A buffered body would be 256 MB; streaming keeps the broker (and the stand-in in this process) to a few buffers.
  assert.ok(peak < 128 * MB, `memory grew by ${Math.round(peak / MB)} MB during the transfers`);
  console.log(`# 256 MB up+down through the broker: peak RSS growth ${Math.round(peak / MB)} MB`);
  rmSync(back);
});

test('aws-chunked uploads with an unsigned checksum trailer (newer SDKs) keep their framing and are signed for it', async () => {
  const data = randomBytes(70_000);
  const chunked = Buffer.concat([
    Buffer.from(`${(65_536).toString(16)}\r\n`), data.subarray(0, 65_536), Buffer.from('\r\n'),
    Buffer.from(`${(data.length - 65_536).toString(16)}\r\n`), data.subarray(65_536), Buffer.from('\r\n'),
    Buffer.from('0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'),
  ]);
  const file = join(dir, 'chunked.body');
  writeFileSync(file, chunked);
  const r = await curl([
    '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', `@${file}`,
    '-H', 'content-encoding: aws-chunked', '-H', 'x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    '-H', `x-amz-decoded-content-length: ${data.length}`, '-H', 'x-amz-trailer: x-amz-checksum-crc32', '-H', 'content-type: application/octet-stream',
    `${broker()}/data/chunked.bin`,
  ]);
  assert.equal(r.stdout, '200', r.stderr);
  assert.equal(s3.authenticated.at(-1), 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
  assert.deepEqual(readFileSync(s3.objectPath('data', 'chunked.bin')!), data);
});

test("the client's own body hash is signed as sent: S3 checks it, and a wrong one gets S3's own error", async () => {
  const body = 'checked by S3\n';
  const good = createHash('sha256').update(body).digest('hex');
  const ok = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', body, '-H', `x-amz-content-sha256: ${good}`, `${broker()}/data/hashed.txt`]);
  assert.equal(ok.stdout, '200', ok.stderr);
  assert.equal(s3.authenticated.at(-1), good);
  const wrong = await curl(['-X', 'PUT', '--data-binary', body, '-H', `x-amz-content-sha256: ${'0'.repeat(64)}`, `${broker()}/data/hashed.txt`]);
  assert.match(wrong.stdout, /<Code>XAmzContentSHA256Mismatch<\/Code>/);
});

test('chunks signed with the client\'s own keys: a clear 400 from the broker, nothing sent to S3', async () => {
  const before = s3.authenticated.length + s3.refused.length;
  const r = await curl(['-i', '-X', 'PUT', '--data-binary', 'x', '-H', 'x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD', `${broker()}/data/signed-chunks.bin`]);
  assert.match(r.stdout, /^HTTP\/1\.1 400 /);
  assert.match(r.stdout, /signed its upload in chunks .* --no-sign-request/);
  assert.equal(s3.authenticated.length + s3.refused.length, before);
});

test('presigned URLs pass through untouched: no Authorization added (S3 would refuse two auth mechanisms), the URL\'s own signature verified', async () => {
  // Someone who holds keys shared these URLs; the user opens them through the broker's address.
  const viaBroker = (url: string) => url.replace(s3.endpoint, broker());
  const get = await s3.presign('GET', 'data', 'small.bin', KEYS, 300);
  const r = await curl(['-o', join(dir, 'presigned.back'), '-w', '%{http_code}', viaBroker(get)]);
  assert.equal(r.stdout, '200', r.stderr);
  assert.deepEqual(readFileSync(join(dir, 'presigned.back')), readFileSync(join(dir, 'small.bin')));
  assert.equal(s3.authenticated.at(-1), 'presigned');
  const put = await s3.presign('PUT', 'data', 'via-presigned.txt', KEYS, 300);
  const p = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--data-binary', 'uploaded with a presigned URL\n', viaBroker(put)]);
  assert.equal(p.stdout, '200', p.stderr);
  assert.equal(readFileSync(s3.objectPath('data', 'via-presigned.txt')!, 'utf8'), 'uploaded with a presigned URL\n');
  // Tampered with (another key): S3's own refusal comes back; the broker did not "fix" it by signing.
  const tampered = viaBroker(get).replace('small.bin', 'parts.bin');
  const t = await curl([tampered]);
  assert.match(t.stdout, /<Code>SignatureDoesNotMatch<\/Code>/);
  const requests = tb.audit.records.filter((x) => x.type === 'http.request' && x.path === '/data/via-presigned.txt');
  assert.ok(requests.length === 1 && requests[0]!.type === 'http.request' && requests[0]!.status === 200);
});

test('the secret key appears in no output, log or audit record', () => {
  const everything = tb.output() + outputs.join('') + JSON.stringify(tb.audit.records);
  assert.ok(!everything.includes(KEYS.secretAccessKey), 'secret key leaked');
});
