// The structured part of an error from any BrokerApi (HTTP client or the Electron
// bridge): its code, the fields it points at, a keychain conflict. Read by shape, since
// errors that crossed IPC are plain objects with these properties.
import type { ApiErrorBody, ApiErrorCode, ApiFieldError } from '../../broker/api.js';

export interface ApiErrorInfo {
  message: string;
  code?: ApiErrorCode;
  fields: ApiFieldError[];
  keychainConflict?: ApiErrorBody['keychainConflict'];
}

export function apiErrorOf(err: unknown): ApiErrorInfo {
  const e = (err ?? {}) as Partial<ApiErrorInfo> & { message?: unknown };
  return {
    message: typeof e.message === 'string' ? e.message : String(err),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    fields: Array.isArray(e.fields) ? e.fields.filter((f): f is ApiFieldError => !!f && typeof f.path === 'string' && typeof f.message === 'string') : [],
    ...(e.keychainConflict ? { keychainConflict: e.keychainConflict } : {}),
  };
}
