// Which of the app's command-line arguments go on to the broker process (`serve --ui`):
// the serve options a user may give, nothing Electron or the OS adds (-psn_…, --no-sandbox).
const WITH_VALUE = new Set(['-f', '--config', '--audit-log', '--log-level', '--log-format']);
const FLAGS = new Set(['--watch', '--peer-lookup']);

export function brokerArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (FLAGS.has(a)) out.push(a);
    else if (WITH_VALUE.has(name) && eq > 0) out.push(a);
    else if (WITH_VALUE.has(a) && i + 1 < argv.length) out.push(a, argv[++i]!);
  }
  return out;
}
