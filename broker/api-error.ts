// The one error type of BrokerApi calls, on both sides of the control API: the broker
// throws it (api-service.ts), the server answers with its status and body()
// (control/server.ts), and the HTTP client rebuilds it from that answer
// (control/http-client.ts), so callers check the same class and fields everywhere.
import type { ApiErrorBody, ApiErrorCode, ApiFieldError } from './api.js';

/** The code an error without one gets from its HTTP status. */
const CODE_OF_STATUS: Partial<Record<number, ApiErrorCode>> = {
  400: 'invalid_input',
  401: 'unauthorized',
  404: 'not_found',
  409: 'conflict',
  503: 'keychain_unavailable',
};

/** An error a BrokerApi call answers with: HTTP status plus the ApiErrorBody fields. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly fields: ApiFieldError[];
  readonly keychainConflict?: ApiErrorBody['keychainConflict'];
  constructor(
    readonly status: number,
    message: string,
    body: Partial<Omit<ApiErrorBody, 'error'>> = {},
  ) {
    super(message);
    this.code = body.code ?? CODE_OF_STATUS[status] ?? 'internal';
    this.fields = body.fields ?? [];
    if (body.keychainConflict) this.keychainConflict = body.keychainConflict;
  }
  body(): ApiErrorBody {
    return { error: this.message, code: this.code, ...(this.fields.length ? { fields: this.fields } : {}), ...(this.keychainConflict ? { keychainConflict: this.keychainConflict } : {}) };
  }
}
