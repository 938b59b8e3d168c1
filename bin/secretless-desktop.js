#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in dist/ (npm run build).
import('../dist/broker/cli.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`secretless-desktop: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
