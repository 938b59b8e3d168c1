// `secretless-desktop COMMAND --help` and the argument errors of every command: one help
// text per command, and node's parseArgs errors turned into one plain line plus that help.

const FILE_OPTIONS = `  -f, --config FILE    config file (default: ./secretless.yml, then the user config dir)`;

export const COMMAND_HELP: Record<string, string> = {
  serve: `Usage: secretless-desktop serve [options]

Runs the broker headless with a secretless.yml (version 2) config.

Options:
${FILE_OPTIONS}
  --watch              reload when the config file changes (SIGHUP always reloads)
  --audit-log PATH     audit log file (default: <user state dir>/audit.jsonl)
  --log-level LEVEL    debug, info, warn or error (default info)
  --log-format FORMAT  text or json (default text)
  --log-file PATH      log to this file (mode 0600, rotated at 5 MiB) instead of stderr
  --wait-for-config    an invalid config at start is reported and the broker waits for
                       the file to be fixed instead of exiting
  --peer-lookup        record the client process (pid/uid) in the audit log
  --ui                 also serve the UI and the control API on 127.0.0.1 (prints the URL
                       with its access token; \`open\` prints it again)
  --ui-port N          port for --ui (default: the last one, else a free one)
  --max-connections N  open client connections across all services; clients above it get
                       the protocol's "too many connections" (default: what the open-file
                       limit allows, two descriptors per connection, 128 kept in reserve)
  --health-port N      serve /live, /ready and /metrics (Prometheus) on this port, no token
  --health-host HOST   address for --health-port (default 127.0.0.1; 0.0.0.0 in a container
                       whose probes come from outside)
`,
  check: `Usage: secretless-desktop check [-f FILE]

Validates a config file and lists its services; problems name their key and line, with a
suggestion for a misspelt name.

Options:
${FILE_OPTIONS}
`,
  login: `Usage: secretless-desktop login NAME [-f FILE] [--no-browser] [--audit-log PATH]

Logs in to an identity of the config's \`identities:\` (OIDC); tokens go to the OS keychain.

Options:
${FILE_OPTIONS}
  --no-browser         print the login URL instead of opening the browser
  --audit-log PATH     audit log file
`,
  logout: `Usage: secretless-desktop logout NAME [-f FILE] [--audit-log PATH]

Revokes and forgets an identity's tokens.

Options:
${FILE_OPTIONS}
  --audit-log PATH     audit log file
`,
  status: `Usage: secretless-desktop status [--json]

The running broker's targets (state, health and why, address, credential expiry) and
identity sessions.

Options:
  --json               machine-readable output
`,
  start: `Usage: secretless-desktop start NAME

Starts a target of the running broker.
`,
  stop: `Usage: secretless-desktop stop NAME

Stops a target; it stays stopped across restarts until started.
`,
  test: `Usage: secretless-desktop test NAME [--json]

Logs in to the target now with its configured credentials, through the same connector
code a client connection uses (no client needed). Prints ok with the latency, or the
error; exit 1 on failure.

Options:
  --json               machine-readable output
`,
  delete: `Usage: secretless-desktop delete NAME [--remove-keychain-items]

Removes a target from the config file (comments and other targets stay).

Options:
  --remove-keychain-items  also delete the keychain items only this target used
`,
  open: `Usage: secretless-desktop open [--no-browser] [--new-token]

Prints the running broker's UI URL (with its access token) and opens it.

Options:
  --no-browser         print only
  --new-token          replace the access token first (pages with the old one are refused)
`,
  approvals: `Usage: secretless-desktop approvals [--json]

Programs waiting for your approval to use a target (services with \`approval: ask\`, or any
service while the broker is locked): the program's executable, pid, command line and the
app it runs in, the target, and when it asked. Answer with approve or deny. Needs a
broker started with \`serve --ui\` (or the desktop app).

Options:
  --json               print the prompts and the lock state as JSON
`,
  approve: `Usage: secretless-desktop approve ID [--until-exit | --for DURATION]

Lets the waiting program use the target (ID: from \`approvals\`, its first 8 characters do).
Without an option only the connections waiting now go on.

Options:
  --until-exit         this process (pid and start time) until it exits
  --for DURATION       any process of this executable for 30m, 4h, 2d, … (at most 7d)
`,
  deny: `Usage: secretless-desktop deny ID

Refuses the waiting program: its connections get the broker's not_approved error in their
own protocol (psql: FATAL, mariadb: ERROR 1045, ssh: disconnect, HTTP 403, Redis NOPERM).
`,
  lock: `Usage: secretless-desktop lock [--close-sessions]

Revokes every approval; until \`unlock\` every new connection to any target asks, also to
targets with \`approval: never\`. Open sessions stay unless --close-sessions.

Options:
  --close-sessions     also close every open client connection
`,
  unlock: `Usage: secretless-desktop unlock

Ends the lock: targets with \`approval: never\` stop asking. Approvals revoked by the lock stay
revoked.
`,
  audit: `Usage: secretless-desktop audit [options]

Recent audit records, oldest first. Without a running broker, reads the audit log file.

Options:
  -f, --follow         keep printing new records (needs a running broker)
  --service NAME       only this target's records
  --outcome ok|failed  only successes or failures
  --limit N            at most N records (default 200)
  --json               one JSON record per line
  --audit-log PATH     the file to read when no broker runs (default: <state dir>/audit.jsonl)
`,
};

/** parseArgs' error codes: a bad command line, not a failure of the command. */
export function isArgumentError(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** One line for a parseArgs error: `unknown option '--jsn'` rather than node's advice on `--`. */
export function argumentErrorText(err: Error): string {
  const option = /'([^']+)'/.exec(err.message)?.[1];
  const code = (err as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option '${option}'`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && option) return `unexpected argument '${option}'`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return err.message.split('.')[0]!.replace(/^Option /, 'option ');
  return err.message.split('\n')[0]!;
}
