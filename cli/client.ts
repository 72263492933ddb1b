// HTTP client for the operator API. Error bodies come back as typed WfErrors with the server's code.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrorCode, WfError } from '../protocol/errors.js';

export interface ClientOptions {
  server: string;
  token?: string;
}

/** Token: --token, then $WASMFLEET_TOKEN, then the embedded server's ./data/operator-token. */
export function resolveToken(given: string | undefined, dataDir = 'data'): string | undefined {
  if (given) return given;
  if (process.env.WASMFLEET_TOKEN) return process.env.WASMFLEET_TOKEN;
  const path = join(dataDir, 'operator-token');
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

export class ApiClient {
  constructor(private readonly opts: ClientOptions) {}

  get server(): string {
    return this.opts.server;
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.opts.server), {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new WfError('SERVER_UNAVAILABLE', `${this.opts.server} (${cause}); is "wasmfleet server" running?`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new WfError('INTERNAL', `server answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } }).error;
      const code = isErrorCode(e?.code) ? e.code : 'INTERNAL';
      const err = new WfError(code);
      // Keep the server's message verbatim: it already names the field or the id.
      err.message = e?.message ?? `HTTP ${res.status}`;
      throw err;
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
}
