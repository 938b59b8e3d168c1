// Config validation time by number of services: prints ms per size and the ratio to the
// smallest, so linear growth (ratio ~ size ratio) is visible at a glance.
// A script that prints figures, never a test with timed assertions.
//
//   node dist/test/bench/config-bench.js [SIZES...]   (default 5000 10000 20000)
import { parseConfig } from '../../broker/config/parse.js';
import { builtinConnectors, connectorSpecs } from '../../broker/connectors/registry.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const options = { source: 'bench.yml', connectors: connectorSpecs(builtinConnectors()), providers: ['env', 'file', 'keychain'] };

function configOf(n: number): string {
  let y = 'version: 2\nservices:\n';
  for (let i = 0; i < n; i++) {
    y += `  svc-${i}:\n    connector: pg\n    listenOn: tcp://127.0.0.1:${10_000 + (i % 50_000)}\n    credentials:\n` +
      `      host: db${i}.internal\n      username: u${i}\n      password: {from: env, get: PW_${i}}\n`;
  }
  return y;
}

let base: { n: number; ms: number } | undefined;
for (const n of sizes.length > 0 ? sizes : [5_000, 10_000, 20_000]) {
  const text = configOf(n);
  const start = performance.now();
  parseConfig(text, options);
  const ms = performance.now() - start;
  base ??= { n, ms };
  console.log(`${String(n).padStart(7)} services  ${(text.length / 1e6).toFixed(1)} MB  ${ms.toFixed(0).padStart(6)} ms  ` +
    `x${(ms / base.ms).toFixed(1)} time for x${(n / base.n).toFixed(1)} services`);
}
