// Entry of the Electron utilityProcess that runs the broker: the headless `serve --ui`
// (same code, same control API), so a broker crash never takes the window down. The
// control server posts its URL and token to the main process through parentPort.
import { main } from '../broker/cli.js';

main(['serve', '--ui', ...process.argv.slice(2)]).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`secretless-desktop broker: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
