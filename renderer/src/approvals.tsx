// Approval prompts and the lock: "psql (pid 4242) wants to use db" with the four answers,
// and a Lock / Unlock button. State comes from listApprovals()/lockState() and is kept
// current by the events the app's one subscription hands to onEvent().
import { useCallback, useEffect, useState } from 'react';
import type { ApprovalAnswer, ApprovalPrompt, BrokerApi, BrokerEvent, LockState } from '../../broker/api.js';
import { useNow } from './countdown.js';
import { remaining } from './time.js';

export interface ApprovalsState {
  prompts: ApprovalPrompt[];
  lock: LockState;
  reload(): Promise<void>;
  onEvent(event: BrokerEvent): void;
  answer(id: string, answer: ApprovalAnswer): Promise<void>;
  setLocked(locked: boolean): Promise<void>;
}

export function useApprovals(api: BrokerApi, report: (err: unknown) => void): ApprovalsState {
  const [prompts, setPrompts] = useState<ApprovalPrompt[]>([]);
  const [lock, setLock] = useState<LockState>({ locked: false });
  const reload = useCallback(async () => {
    try {
      const [p, l] = await Promise.all([api.listApprovals(), api.lockState()]);
      setPrompts(p);
      setLock(l);
    } catch (err) {
      report(err);
    }
  }, [api, report]);
  useEffect(() => void reload(), [reload]);
  const onEvent = useCallback((event: BrokerEvent) => {
    if (event.type === 'approval.requested') setPrompts((prev) => [...prev.filter((p) => p.id !== event.approval.id), event.approval]);
    else if (event.type === 'approval.resolved') setPrompts((prev) => prev.filter((p) => p.id !== event.id));
    else if (event.type === 'lock.changed') setLock(event.lock);
  }, []);
  const answer = useCallback(
    async (id: string, a: ApprovalAnswer) => {
      try {
        await api.answerApproval(id, a, 'ui');
        setPrompts((prev) => prev.filter((p) => p.id !== id));
      } catch (err) {
        report(err);
        void reload(); // it may have timed out meanwhile
      }
    },
    [api, report, reload],
  );
  const setLocked = useCallback(
    async (locked: boolean) => {
      try {
        setLock(locked ? await api.lock({ by: 'ui' }) : await api.unlock({ by: 'ui' }));
      } catch (err) {
        report(err);
      }
    },
    [api, report],
  );
  return { prompts, lock, reload, onEvent, answer, setLocked };
}

export function LockButton({ state }: { state: ApprovalsState }) {
  const locked = state.lock.locked;
  return (
    <button type="button" className={locked ? 'locked' : ''} aria-pressed={locked} title={locked ? 'Locked: every new connection asks. Click to unlock.' : 'Revoke every approval; every new connection asks until unlocked'} onClick={() => void state.setLocked(!locked)}>
      {locked ? 'Unlock' : 'Lock'}
    </button>
  );
}

const HOURS = [1, 4, 8, 24];

/** The program as a person recognises it: psql, not /usr/lib/postgresql/16/bin/psql. */
export function programName(p: ApprovalPrompt): string {
  const exe = p.process.exe ?? p.process.name;
  return exe ? exe.replace(/^.*\//, '') : p.process.address ? `a client at ${p.process.address}` : 'an unknown program';
}

export function ApprovalPanel({ state }: { state: ApprovalsState }) {
  const now = useNow();
  if (state.prompts.length === 0 && !state.lock.locked) return null;
  return (
    <section className="approvals" aria-label="Approval requests">
      {state.lock.locked && (
        <p className="notice lock" role="status">
          Locked{state.lock.reason ? ` (${state.lock.reason})` : ''}: every approval was revoked and every new connection asks.{' '}
          <button type="button" className="link" onClick={() => void state.setLocked(false)}>
            Unlock
          </button>
        </p>
      )}
      {state.prompts.map((p) => (
        <Prompt key={p.id} prompt={p} now={now} onAnswer={(a) => void state.answer(p.id, a)} />
      ))}
    </section>
  );
}

function Prompt({ prompt: p, now, onAnswer }: { prompt: ApprovalPrompt; now: number; onAnswer: (a: ApprovalAnswer) => void }) {
  const [hours, setHours] = useState(4);
  const name = programName(p);
  const left = remaining(p.expiresAt, now);
  return (
    <article className="prompt" role="alertdialog" aria-labelledby={`prompt-${p.id}`} data-approval={p.id}>
      <h2 id={`prompt-${p.id}`}>
        <strong>{name}</strong> wants to use <strong>{p.service}</strong>
        {p.key ? (
          <>
            {' '}
            (sign with key <strong>{p.key.name}</strong>)
          </>
        ) : null}
      </h2>
      <dl>
        <dt>Program</dt>
        <dd className="exe">
          {p.process.exe ?? p.process.name ?? p.process.address ?? 'unknown'}
          {p.process.pid !== undefined && <span className="pid"> (pid {p.process.pid})</span>}
        </dd>
        {p.process.cmdline && p.process.cmdline.length > 0 && (
          <>
            <dt>Command</dt>
            <dd>
              <code>{p.process.cmdline.join(' ')}</code>
            </dd>
          </>
        )}
        {p.process.parentApp && (
          <>
            <dt>Running in</dt>
            <dd>
              {p.process.parentApp.exe ?? p.process.parentApp.name} (pid {p.process.parentApp.pid})
            </dd>
          </>
        )}
        <dt>Target</dt>
        <dd>
          {p.service} ({p.connector}, {p.listenOn})
        </dd>
        {p.key && (
          <>
            <dt>Key</dt>
            <dd>
              {p.key.name} <code>{p.key.fingerprint}</code>
            </dd>
          </>
        )}
        <dt>Asked</dt>
        <dd>
          <time dateTime={p.requestedAt}>{new Date(p.requestedAt).toLocaleTimeString()}</time>
          {p.waiting > 1 ? `, ${p.waiting} connections waiting` : ''}
          {left ? `; denied in ${left} without an answer` : ''}
        </dd>
      </dl>
      <div className="answers">
        <button type="button" className="primary" onClick={() => onAnswer({ type: 'allow-once' })}>
          Allow once
        </button>
        <button type="button" disabled={!p.processKnown} onClick={() => onAnswer({ type: 'allow-process' })} title="This process (pid and start time) until it exits">
          Allow until it exits
        </button>
        <span className="for">
          <button type="button" disabled={!p.processKnown} onClick={() => onAnswer({ type: 'allow-executable', forMs: hours * 3_600_000 })} title={`Any ${name} process for ${hours} h`}>
            Allow {name} for
          </button>
          <select aria-label="Hours" value={hours} disabled={!p.processKnown} onChange={(e) => setHours(Number(e.target.value))}>
            {HOURS.map((h) => (
              <option key={h} value={h}>
                {h} h
              </option>
            ))}
          </select>
        </span>
        <button type="button" className="danger" onClick={() => onAnswer({ type: 'deny' })}>
          Deny
        </button>
      </div>
    </article>
  );
}
