// `secretless-desktop approvals | approve ID [--until-exit | --for 4h] | deny ID | lock
// [--close-sessions] | unlock`: answering approval prompts and locking from a terminal
// (headless use), over the running broker's control API. Answers are audited `by: cli`.
import { parseArgs } from 'node:util';
import type { ApprovalAnswer, ApprovalPrompt, BrokerApi, LockState } from '../api.js';
import { CodedError } from '../errors.js';

export const APPROVAL_COMMANDS = ['approvals', 'approve', 'deny', 'lock', 'unlock'] as const;

class Usage extends CodedError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

/** `4h`, `30m`, `2d`, `90s` (a bare number is hours) to milliseconds. */
export function parseGrantDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new Usage(`--for: '${text}' is not a duration like 30m, 4h or 2d`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, '': 3_600_000 }[m[2] as 's' | 'm' | 'h' | 'd' | ''];
  return Math.round(Number(m[1]) * unit);
}

export async function approvalCommand(command: string, args: string[], api: BrokerApi, out: (s: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'until-exit': { type: 'boolean', default: false },
      for: { type: 'string' },
      'close-sessions': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const needsId = command === 'approve' || command === 'deny';
  if (needsId && positionals.length !== 1) throw new Usage(`usage: secretless-desktop ${command} ID (the ids: secretless-desktop approvals)`);
  if (!needsId && positionals.length > 0) throw new Usage(`unexpected argument '${positionals[0]}'`);
  if (command !== 'approve' && (values['until-exit'] || values.for !== undefined)) throw new Usage('--until-exit and --for go with approve');
  if (command !== 'lock' && values['close-sessions']) throw new Usage('--close-sessions goes with lock');
  switch (command) {
    case 'approvals': {
      const [prompts, lock] = await Promise.all([api.listApprovals(), api.lockState()]);
      out(values.json ? JSON.stringify({ lock, approvals: prompts }, null, 2) + '\n' : formatApprovals(prompts, lock, new Date()));
      return;
    }
    case 'approve':
    case 'deny': {
      if (values['until-exit'] && values.for !== undefined) throw new Usage('give --until-exit or --for, not both');
      const answer: ApprovalAnswer =
        command === 'deny' ? { type: 'deny' } : values['until-exit'] ? { type: 'allow-process' } : values.for !== undefined ? { type: 'allow-executable', forMs: parseGrantDuration(values.for) } : { type: 'allow-once' };
      const id = await resolveId(api, positionals[0]!);
      await api.answerApproval(id, answer, 'cli');
      out(`${id}: ${answerText(answer)}\n`);
      return;
    }
    case 'lock': {
      const s = await api.lock({ closeSessions: values['close-sessions'] === true, by: 'cli' });
      out(`${lockText(s)}${values['close-sessions'] ? '; open sessions closed' : ''}\n`);
      return;
    }
    case 'unlock':
      out(`${lockText(await api.unlock({ by: 'cli' }))}\n`);
      return;
  }
}

/** An id prefix (as `approvals` prints it, 8 characters) is enough when it names one prompt. */
async function resolveId(api: BrokerApi, given: string): Promise<string> {
  const ids = (await api.listApprovals()).map((p) => p.id).filter((id) => id.startsWith(given));
  if (ids.length === 1) return ids[0]!;
  if (ids.length > 1) throw new Usage(`'${given}' names ${ids.length} prompts: give more of the id`);
  return given; // the broker says it does not exist
}

function answerText(a: ApprovalAnswer): string {
  switch (a.type) {
    case 'allow-once':
      return 'allowed once';
    case 'allow-process':
      return 'allowed until the program exits';
    case 'allow-executable':
      return `allowed for this executable for ${formatDuration(a.forMs)}`;
    case 'deny':
      return 'denied';
  }
}

function lockText(s: LockState): string {
  return s.locked ? 'locked: every approval was revoked and every new connection asks (secretless-desktop unlock ends it)' : 'unlocked';
}

function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

export function formatApprovals(prompts: ApprovalPrompt[], lock: LockState, now: Date): string {
  let text = lock.locked ? `LOCKED since ${lock.since}${lock.reason ? ` (${lock.reason})` : ''}: every new connection asks\n\n` : '';
  if (prompts.length === 0) return text + 'no program is waiting for approval\n';
  for (const p of prompts) {
    const left = Math.max(0, Math.round((Date.parse(p.expiresAt) - now.getTime()) / 1000));
    const who = p.process.exe ?? p.process.name ?? p.process.address ?? 'unknown program';
    text += `${p.id.slice(0, 8)}  ${p.service} (${p.connector}, ${p.listenOn})${p.key ? ` key ${p.key.name} ${p.key.fingerprint}` : ''}\n`;
    text += `          program  ${who}${p.process.pid !== undefined ? ` (pid ${p.process.pid})` : ''}\n`;
    if (p.process.cmdline?.length) text += `          command  ${p.process.cmdline.join(' ')}\n`;
    if (p.process.parentApp) text += `          in       ${p.process.parentApp.exe ?? p.process.parentApp.name} (pid ${p.process.parentApp.pid})\n`;
    text += `          asked    ${p.requestedAt}, ${p.waiting} connection${p.waiting === 1 ? '' : 's'} waiting, denied in ${left}s without an answer\n`;
    if (!p.processKnown) text += '          (the program is not known: approve once or deny)\n';
  }
  return text + '\napprove ID [--until-exit | --for 4h]  or  deny ID\n';
}
