#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size=2 (MB): a broker allocates in short bursts per connection; V8's
// default lets the young generation grow to 16 MB per semi-space, which shows up as
// ~25 KB of RSS per held connection. 2 MB keeps idle connections at ~12 KB.
// Thin launcher: the CLI is compiled TypeScript in dist/ (npm run build).
import('../dist/broker/cli.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`secretless-desktop: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
