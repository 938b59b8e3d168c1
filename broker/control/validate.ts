// Argument checks for BrokerApi calls that arrive from outside the process (the control
// API's JSON bodies, the Electron main process's IPC). Only what the contract names gets
// through: unknown methods, extra arguments and unknown fields are refused, and the
// result is a fresh object, so nothing the caller smuggled in reaches the broker.
import { BROKER_API_METHODS, type ApprovalAnswer, type AuditQuery, type DeleteOptions, type TargetInput } from '../api.js';
import { CodedError } from '../errors.js';

/** The methods callable as request/response (subscribe is a stream). */
export type CallMethod = Exclude<(typeof BROKER_API_METHODS)[number], 'subscribe'>;

export const CALL_METHODS: readonly CallMethod[] = BROKER_API_METHODS.filter((m): m is CallMethod => m !== 'subscribe');

export class InvalidArguments extends CodedError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

const fail = (msg: string): never => {
  throw new InvalidArguments(msg);
};

export function isCallMethod(name: string): name is CallMethod {
  return (CALL_METHODS as readonly string[]).includes(name);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, what: string, max = 4096): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(`${what} must be a non-empty string`);
  return v as string;
}

function onlyKeys(v: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`${what}: unknown field '${k}'`);
}

function auditQuery(v: unknown): AuditQuery {
  if (v === undefined) return {};
  if (!isRecord(v)) return fail('the audit query must be an object');
  onlyKeys(v, ['service', 'outcome', 'limit'], 'audit query');
  const q: AuditQuery = {};
  if (v.service !== undefined) q.service = str(v.service, 'service', 200);
  if (v.outcome !== undefined) {
    if (v.outcome !== 'ok' && v.outcome !== 'failed') fail("outcome must be 'ok' or 'failed'");
    q.outcome = v.outcome as 'ok' | 'failed';
  }
  if (v.limit !== undefined) {
    if (typeof v.limit !== 'number' || !Number.isInteger(v.limit) || v.limit < 1 || v.limit > 10_000) fail('limit must be an integer from 1 to 10000');
    q.limit = v.limit as number;
  }
  return q;
}

function targetInput(v: unknown): TargetInput {
  if (!isRecord(v)) return fail('the target must be an object');
  onlyKeys(v, TARGET_INPUT_FIELDS, 'target');
  const out: TargetInput = {
    name: str(v.name, 'name', 200),
    connector: str(v.connector, 'connector', 100),
    listenOn: str(v.listenOn, 'listenOn', 300),
    credentials: {},
  };
  if (!isRecord(v.credentials)) fail('credentials must be an object');
  for (const [key, ref] of Object.entries(v.credentials as Record<string, unknown>)) {
    if (!isRecord(ref)) fail(`credential '${key}' must be an object`);
    const r = ref as Record<string, unknown>;
    if ('keep' in r) {
      onlyKeys(r, ['keep'], `credential '${key}'`);
      if (r.keep !== true) fail(`credential '${key}': keep must be true`);
      out.credentials[key] = { keep: true };
    } else if ('literal' in r) {
      onlyKeys(r, ['literal'], `credential '${key}'`);
      if (typeof r.literal !== 'string') fail(`credential '${key}': literal must be a string`);
      out.credentials[key] = { literal: r.literal as string };
    } else {
      onlyKeys(r, ['from', 'get'], `credential '${key}'`);
      out.credentials[key] = { from: str(r.from, `credential '${key}'.from`, 100), get: str(r.get, `credential '${key}'.get`) };
    }
  }
  if (v.config !== undefined) {
    if (!isRecord(v.config)) fail('config must be an object');
    out.config = JSON.parse(JSON.stringify(v.config)) as Record<string, unknown>;
  }
  if (v.keychainValues !== undefined) {
    if (!isRecord(v.keychainValues)) fail('keychainValues must be an object');
    out.keychainValues = {};
    for (const [k, val] of Object.entries(v.keychainValues as Record<string, unknown>)) out.keychainValues[k] = str(val, `keychainValues.${k}`);
  }
  if (v.overwriteKeychainItems !== undefined) {
    if (!Array.isArray(v.overwriteKeychainItems) || v.overwriteKeychainItems.length > 100) fail('overwriteKeychainItems must be a list of keychain ids');
    out.overwriteKeychainItems = (v.overwriteKeychainItems as unknown[]).map((id, i) => str(id, `overwriteKeychainItems[${i}]`, 1000));
  }
  if (v.previousName !== undefined) out.previousName = str(v.previousName, 'previousName', 200);
  return out;
}

/** The fields of TargetInput, for the checks here and in the preload bridge. */
export const TARGET_INPUT_FIELDS = ['name', 'connector', 'listenOn', 'credentials', 'config', 'keychainValues', 'overwriteKeychainItems', 'previousName'];

function deleteOptions(v: unknown): DeleteOptions {
  if (v === undefined) return {};
  if (!isRecord(v)) return fail('the delete options must be an object');
  onlyKeys(v, ['removeKeychainItems'], 'delete options');
  if (v.removeKeychainItems !== undefined && typeof v.removeKeychainItems !== 'boolean') fail('removeKeychainItems must be true or false');
  return v.removeKeychainItems === undefined ? {} : { removeKeychainItems: v.removeKeychainItems as boolean };
}

function approvalAnswer(v: unknown): ApprovalAnswer {
  if (!isRecord(v)) return fail('the answer must be an object');
  switch (v.type) {
    case 'allow-once':
    case 'allow-process':
    case 'deny':
      onlyKeys(v, ['type'], 'answer');
      return { type: v.type };
    case 'allow-executable':
      onlyKeys(v, ['type', 'forMs'], 'answer');
      if (typeof v.forMs !== 'number' || !Number.isFinite(v.forMs) || v.forMs <= 0) fail('forMs must be a positive number of milliseconds');
      return { type: 'allow-executable', forMs: v.forMs as number };
    default:
      return fail("the answer's type must be allow-once, allow-process, allow-executable or deny");
  }
}

function answeredBy(v: unknown): 'ui' | 'notification' | 'cli' {
  if (v !== 'ui' && v !== 'notification' && v !== 'cli') fail("by must be 'ui', 'notification' or 'cli'");
  return v as 'ui' | 'notification' | 'cli';
}

function lockOptions(v: unknown, allowed: string[]): { closeSessions?: boolean; by?: string } {
  if (v === undefined) return {};
  if (!isRecord(v)) return fail('the options must be an object');
  onlyKeys(v, allowed, 'options');
  const out: { closeSessions?: boolean; by?: string } = {};
  if (v.closeSessions !== undefined) {
    if (typeof v.closeSessions !== 'boolean') fail('closeSessions must be true or false');
    out.closeSessions = v.closeSessions as boolean;
  }
  if (v.by !== undefined) {
    if (typeof v.by !== 'string' || !/^[a-z][a-z-]{0,30}$/.test(v.by)) fail('by must be a short lower-case word (ui, cli, tray, …)');
    out.by = v.by as string;
  }
  return out;
}

/** Checks `args` for `method`; returns the arguments to pass on. Throws InvalidArguments. */
export function validateArgs(method: string, args: unknown): unknown[] {
  if (!isCallMethod(method)) return fail(`unknown method '${method}'`);
  if (!Array.isArray(args)) return fail('args must be an array');
  const max = {
    listTargets: 0,
    listSessions: 0,
    connectorTemplates: 0,
    brokerInfo: 0,
    startTarget: 1,
    stopTarget: 1,
    getTarget: 1,
    testTarget: 1,
    deleteTarget: 2,
    login: 1,
    logout: 1,
    saveTarget: 1,
    recentAudit: 1,
    listApprovals: 0,
    answerApproval: 3,
    lock: 1,
    unlock: 1,
    lockState: 0,
  }[method];
  if (args.length > max) fail(`${method} takes ${max} argument${max === 1 ? '' : 's'}`);
  switch (method) {
    case 'listTargets':
    case 'listSessions':
    case 'listApprovals':
    case 'lockState':
    case 'connectorTemplates':
    case 'brokerInfo':
      return [];
    case 'startTarget':
    case 'stopTarget':
    case 'getTarget':
    case 'testTarget':
      return [str(args[0], 'the target name', 200)];
    case 'deleteTarget':
      return [str(args[0], 'the target name', 200), deleteOptions(args[1])];
    case 'login':
    case 'logout':
      return [str(args[0], 'the identity name', 200)];
    case 'saveTarget':
      return [targetInput(args[0])];
    case 'recentAudit':
      return [auditQuery(args[0])];
    case 'answerApproval':
      return [str(args[0], 'the approval id', 100), approvalAnswer(args[1]), ...(args[2] === undefined ? [] : [answeredBy(args[2])])];
    case 'lock':
      return [lockOptions(args[0], ['closeSessions', 'by'])];
    case 'unlock':
      return [lockOptions(args[0], ['by'])];
  }
}
