// The files under examples/ (CI jobs, a container image, a Kubernetes sidecar) cannot
// run here: no GitHub or GitLab runner, no Docker daemon, no cluster. What can be
// checked is: every YAML file parses, every secretless.yml (also the one inside the
// ConfigMap) passes the broker's own config validation, and the pieces that must agree
// do: the token audience the platform is asked for is the one the identity expects, the
// token path is where the volume projects it, the job may request its token, the
// broker is started with health endpoints and waited on through /ready, and the image
// and pod run as non-root with a read-only root filesystem.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../broker/config/parse.js';
import type { BrokerConfig } from '../../broker/config/types.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';
import { IDENTITY_PROVIDER_NAMES } from '../../broker/credentials/identity-runtime.js';
import { createProviderRegistry, defaultProviders } from '../../broker/credentials/registry.js';
import type { WorkloadIdentity } from '../../broker/identity/config.js';

const EXAMPLES = join(process.cwd(), 'examples');
const read = (path: string) => readFileSync(join(EXAMPLES, path), 'utf8');
const options = { connectors: connectorSpecs(builtinConnectors()), providers: [...new Set([...createProviderRegistry(defaultProviders()).names(), ...IDENTITY_PROVIDER_NAMES])] };
const config = (text: string, source: string): BrokerConfig => parseConfig(text, { ...options, source });
const workload = (c: BrokerConfig, type: WorkloadIdentity['type']) => c.identities?.find((i): i is WorkloadIdentity => i.type === type);
type Step = { run?: string; uses?: string };

test('GitHub Actions: id-token permission, the broker in the background, tests after /ready', () => {
  const c = config(read('github-actions/secretless.yml'), 'github-actions/secretless.yml');
  const identity = workload(c, 'github-actions');
  assert.equal(identity?.audience, 'sts.amazonaws.com');
  assert.ok(c.identities?.some((i) => i.type === 'aws' && i.identity === identity.name), 'the GitHub token is exchanged at STS');
  const rds = c.services.find((s) => s.credentials.password?.provider === 'aws-rds-iam');
  assert.ok(rds && rds.listenOn.type === 'tcp' && rds.listenOn.host === '127.0.0.1');

  const wf = parse(read('github-actions/ci.yml')) as { permissions: Record<string, string>; jobs: Record<string, { steps: Step[] }> };
  assert.equal(wf.permissions['id-token'], 'write');
  const steps = wf.jobs.test!.steps;
  const start = steps.findIndex((s) => /secretless-desktop\.js serve -f ci\/secretless\.yml[\s\\]+--health-port 9090/.test(s.run ?? ''));
  assert.ok(start >= 0, 'a step starts serve with --health-port');
  assert.match(steps[start]!.run!, /&\n/, 'in the background');
  assert.match(steps[start]!.run!, /curl -fsS http:\/\/127\.0\.0\.1:9090\/ready/);
  const tests = steps.findIndex((s) => /npm test/.test(s.run ?? ''));
  assert.ok(tests > start, 'the tests run after the broker is ready');
  assert.doesNotMatch(read('github-actions/ci.yml'), /secrets\./, 'no repository secret');
});

test('GitLab CI: id_tokens gives the variable and audience the token-env identity expects', () => {
  const c = config(read('gitlab-ci/secretless.yml'), 'gitlab-ci/secretless.yml');
  const identity = workload(c, 'token-env');
  assert.ok(identity?.type === 'token-env');
  const job = (parse(read('gitlab-ci/gitlab-ci.yml')) as Record<string, { id_tokens: Record<string, { aud: string }>; before_script: string[] }>).test!;
  assert.deepEqual(job.id_tokens, { [identity.variable]: { aud: identity.audience } });
  assert.ok(job.before_script.some((l) => /serve -f ci\/secretless\.yml --health-port 9090 .*&$/.test(l)));
  assert.ok(job.before_script.some((l) => /127\.0\.0\.1:9090\/ready/.test(l)));
});

test('Kubernetes sidecar: the projected token is where the identity reads it, for its audience; probes on /ready and /live; locked down', () => {
  const docs = parseAllDocuments(read('kubernetes/sidecar.yaml')).map((d) => d.toJS()) as Array<{ kind: string; data?: Record<string, string>; spec?: any }>;
  assert.deepEqual(docs.map((d) => d.kind), ['ServiceAccount', 'ConfigMap', 'Deployment']);
  const c = config(docs[1]!.data!['secretless.yml']!, 'sidecar ConfigMap');
  const identity = workload(c, 'token-file');
  assert.ok(identity?.type === 'token-file');
  const pod = docs[2]!.spec.template.spec;
  const sidecar = pod.initContainers[0];
  assert.equal(sidecar.restartPolicy, 'Always', 'a native sidecar');
  const tokenMount = sidecar.volumeMounts.find((m: { name: string }) => m.name === 'sts-token');
  const projected = pod.volumes.find((v: { name: string }) => v.name === 'sts-token').projected.sources[0].serviceAccountToken;
  assert.equal(`${tokenMount.mountPath}/${projected.path}`, identity.path);
  assert.equal(projected.audience, identity.audience);
  assert.equal(sidecar.readinessProbe.httpGet.path, '/ready');
  assert.equal(sidecar.livenessProbe.httpGet.path, '/live');
  assert.deepEqual(sidecar.args.slice(sidecar.args.indexOf('--health-port'), sidecar.args.indexOf('--health-port') + 4), ['--health-port', '9090', '--health-host', '0.0.0.0']);
  assert.equal(sidecar.securityContext.readOnlyRootFilesystem, true);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(sidecar.volumeMounts.some((m: { mountPath: string; readOnly?: boolean }) => m.mountPath === '/run/secretless' && !m.readOnly), 'its one writable path');
  assert.ok(/127\.0\.0\.1:5432/.test(pod.containers[0].env[0].value) && c.services[0]!.listenOn.type === 'tcp');
});

test('Dockerfile: non-root, state under the one writable path, HEALTHCHECK on /ready, serve with health endpoints', () => {
  const text = read('container/Dockerfile');
  const final = text.slice(text.lastIndexOf('\nFROM '));
  assert.match(final, /^USER 10001:10001$/m);
  assert.doesNotMatch(final, /^USER (root|0)\b/m);
  assert.match(final, /XDG_STATE_HOME=\/run\/secretless\/state/);
  assert.match(final, /^HEALTHCHECK .*\n\s+CMD .*http:\/\/127\.0\.0\.1:9090\/ready/m);
  assert.match(final, /^ENTRYPOINT \["node", "\/app\/bin\/secretless-desktop\.js", "serve"\]$/m);
  assert.match(final, /^CMD \[.*"--health-port", "9090", "--health-host", "0\.0\.0\.0"/m);
  assert.match(text, /ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci/);
});
