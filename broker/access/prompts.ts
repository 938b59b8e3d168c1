// The open approval prompts: one per program and scope (a service, or one key of an
// ssh-agent), however many connections that program opens meanwhile; they all wait on
// the one prompt and get its answer.
import type { ApprovalPrompt } from '../api.js';
import type { ClientProcess, GrantScope } from './grants.js';

export interface Waiter {
  connectionId: string;
  allow(): void;
  deny(err: Error): void;
}

export interface OpenPrompt {
  prompt: ApprovalPrompt;
  /** Scope and process: a second connection of the same program joins this prompt. */
  key: string;
  scope: GrantScope;
  /** Absent when the program is unknown (no pid): only allow-once or deny then. */
  client?: ClientProcess;
  waiters: Set<Waiter>;
  timer: NodeJS.Timeout;
}

export interface PromptQueue {
  get(id: string): OpenPrompt | undefined;
  /** The open prompt of this program for this scope. */
  byKey(key: string): OpenPrompt | undefined;
  add(p: OpenPrompt): void;
  remove(p: OpenPrompt): void;
  /** Oldest first. */
  list(): OpenPrompt[];
}

/** Unknown programs never share a prompt: each connection is its own question. */
export function promptKey(scope: GrantScope, client: ClientProcess | undefined, connectionId: string): string {
  const who = client ? `${client.pid}@${client.startTime}` : `connection ${connectionId}`;
  return `${scope.service}\u0000${scope.key ?? ''}\u0000${who}`;
}

export function createPromptQueue(): PromptQueue {
  const byId = new Map<string, OpenPrompt>();
  const byKey = new Map<string, OpenPrompt>();
  return {
    get: (id) => byId.get(id),
    byKey: (key) => byKey.get(key),
    add(p) {
      byId.set(p.prompt.id, p);
      byKey.set(p.key, p);
    },
    remove(p) {
      clearTimeout(p.timer);
      byId.delete(p.prompt.id);
      if (byKey.get(p.key) === p) byKey.delete(p.key);
    },
    list: () => [...byId.values()],
  };
}
