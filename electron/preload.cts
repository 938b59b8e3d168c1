// The preload bridge (sandboxed, so CommonJS and nothing but `electron`): window.secretless
// with exactly one function per BrokerApi method, never a generic invoke/send. Arguments
// are checked against the contract here and again in the main process.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { ApprovalAnswer, AuditQuery, BrokerApi, BrokerEvent, DeleteOptions, TargetInput } from '../broker/api.js';

const name = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > 200) throw new TypeError(`${what} must be a non-empty string`);
  return v;
};
const plainObject = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${what} must be an object`);
  // A structured-clone-safe copy: functions, prototypes and getters do not cross.
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
};
const pick = <T extends Record<string, unknown>>(v: Record<string, unknown>, keys: readonly string[], what: string): T => {
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new TypeError(`${what}: unknown field '${k}'`);
  return v as T;
};

const invoke = <T,>(method: keyof BrokerApi, ...args: unknown[]): Promise<T> => ipcRenderer.invoke(`secretless:${method}`, ...args) as Promise<T>;

const api: BrokerApi = {
  listTargets: () => invoke('listTargets'),
  startTarget: (target) => invoke('startTarget', name(target, 'the target name')),
  stopTarget: (target) => invoke('stopTarget', name(target, 'the target name')),
  saveTarget: (input) =>
    invoke('saveTarget', pick<TargetInput & Record<string, unknown>>(plainObject(input, 'the target'), ['name', 'connector', 'listenOn', 'credentials', 'config', 'keychainValues', 'overwriteKeychainItems', 'previousName'], 'target')),
  getTarget: (target) => invoke('getTarget', name(target, 'the target name')),
  deleteTarget: (target, options) =>
    options === undefined
      ? invoke('deleteTarget', name(target, 'the target name'))
      : invoke('deleteTarget', name(target, 'the target name'), pick<DeleteOptions & Record<string, unknown>>(plainObject(options, 'the delete options'), ['removeKeychainItems'], 'delete options')),
  testTarget: (target) => invoke('testTarget', name(target, 'the target name')),
  connectorTemplates: () => invoke('connectorTemplates'),
  brokerInfo: () => invoke('brokerInfo'),
  listSessions: () => invoke('listSessions'),
  login: (identity) => invoke('login', name(identity, 'the identity name')),
  logout: (identity) => invoke('logout', name(identity, 'the identity name')),
  recentAudit: (query) =>
    query === undefined ? invoke('recentAudit') : invoke('recentAudit', pick<AuditQuery & Record<string, unknown>>(plainObject(query, 'the audit query'), ['service', 'outcome', 'limit'], 'audit query')),
  listApprovals: () => invoke('listApprovals'),
  answerApproval: (id, answer, by) =>
    by === undefined
      ? invoke('answerApproval', name(id, 'the approval id'), pick<ApprovalAnswer & Record<string, unknown>>(plainObject(answer, 'the answer'), ['type', 'forMs'], 'answer'))
      : invoke('answerApproval', name(id, 'the approval id'), pick<ApprovalAnswer & Record<string, unknown>>(plainObject(answer, 'the answer'), ['type', 'forMs'], 'answer'), name(by, 'by')),
  lock: (options) => (options === undefined ? invoke('lock') : invoke('lock', pick(plainObject(options, 'the lock options'), ['closeSessions', 'by'], 'lock options'))),
  unlock: (options) => (options === undefined ? invoke('unlock') : invoke('unlock', pick(plainObject(options, 'the unlock options'), ['by'], 'unlock options'))),
  lockState: () => invoke('lockState'),
  subscribe(listener) {
    if (typeof listener !== 'function') throw new TypeError('subscribe needs a function');
    const onEvent = (_e: IpcRendererEvent, event: BrokerEvent) => listener(event);
    ipcRenderer.on('secretless:event', onEvent);
    ipcRenderer.send('secretless:subscribe');
    return () => {
      ipcRenderer.removeListener('secretless:event', onEvent);
      if (ipcRenderer.listenerCount('secretless:event') === 0) ipcRenderer.send('secretless:unsubscribe');
    };
  },
};

contextBridge.exposeInMainWorld('secretless', api);
