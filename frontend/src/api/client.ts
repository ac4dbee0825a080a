/** A small fetch wrapper for the Skiplock API: JSON in and out, errors as ApiError. */

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];

  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];
export type QueryParams = Record<string, QueryValue>;

/** Builds "?a=1&state=x&state=y"; empty values are left out; lists repeat the key. */
export function toQueryString(params: QueryParams | undefined): string {
  if (!params) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      for (const item of value) search.append(key, String(item));
    } else {
      search.append(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function toApiError(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${response.status} ${response.statusText}`.trim();
  let fields: FieldError[] = [];
  try {
    const body: unknown = await response.json();
    if (body && typeof body === 'object') {
      const b = body as { error?: unknown; message?: unknown; fields?: unknown; detail?: unknown };
      if (typeof b.error === 'string') code = b.error;
      if (typeof b.message === 'string') message = b.message;
      else if (typeof b.detail === 'string') message = b.detail;
      if (Array.isArray(b.fields)) fields = b.fields as FieldError[];
    }
  } catch {
    // Not JSON (a proxy's error page, say): keep the status line.
  }
  return new ApiError(response.status, code, message, fields);
}

export interface ApiClientOptions {
  apiBase: string;
  /** Called on any 401, so the app can drop its session and show the login page. */
  onUnauthorized?: () => void;
}

export class ApiClient {
  readonly apiBase: string;
  onUnauthorized: (() => void) | undefined;

  constructor({ apiBase, onUnauthorized }: ApiClientOptions) {
    this.apiBase = apiBase;
    this.onUnauthorized = onUnauthorized;
  }

  url(path: string, params?: QueryParams): string {
    return `${this.apiBase}${path}${toQueryString(params)}`;
  }

  async request<T>(method: string, path: string, options: { params?: QueryParams; body?: unknown } = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const init: RequestInit = { method, headers, credentials: 'same-origin' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    // Looked up per call so tests can stub the global fetch.
    const response = await globalThis.fetch(this.url(path, options.params), init);
    if (!response.ok) {
      const error = await toApiError(response);
      // The login call itself answers 401 for a bad key; that is not a lost session.
      if (response.status === 401 && path !== '/session') this.onUnauthorized?.();
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, params?: QueryParams): Promise<T> {
    return this.request<T>('GET', path, { params });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.fields.length > 0) return error.fields.map((f) => `${f.field}: ${f.message}`).join('; ');
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
