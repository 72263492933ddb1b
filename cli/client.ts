// HTTP client for the operator API. Error bodies come back as typed WfErrors with the server's code.
// Over HTTPS it trusts the fleet CA (or the CA file given), not only the system's roots.
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { isErrorCode, WfError } from '../protocol/errors.js';

export interface ClientOptions {
  server: string;
  token?: string;
  /** PEM of the CA that signed the server's certificate (https:// only). */
  ca?: string;
}

/** CA: --ca, then $WASMFLEET_CA, then the embedded server's <data>/tls/ca.crt; only for https:// servers. */
export function resolveCa(server: string, given: string | undefined, dataDir = 'data'): string | undefined {
  if (!server.startsWith('https:')) return undefined;
  const path = given ?? process.env.WASMFLEET_CA ?? join(dataDir, 'tls', 'ca.crt');
  if (!existsSync(path)) {
    if (given || process.env.WASMFLEET_CA) throw new WfError('TLS_MATERIAL_INVALID', `CA file ${path} not found`);
    return undefined; // the system's roots: a server with a publicly trusted certificate
  }
  return readFileSync(path, 'utf8');
}

/** One request with node:http(s), so a CA can be given per client. */
function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, ca: string | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const done = (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    };
    const req = url.protocol === 'https:' ? httpsRequest(url, { method, headers, ca }, done) : httpRequest(url, { method, headers }, done);
    req.on('error', reject);
    req.end(body);
  });
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
    let res: { status: number; text: string };
    const headers: Record<string, string> = {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
    };
    try {
      res = await send(new URL(path, this.opts.server), method, headers, body !== undefined ? JSON.stringify(body) : undefined, this.opts.ca);
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      // A certificate the client does not trust is a refusal, not an outage: say which CA to give.
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
        throw new WfError('CERT_UNTRUSTED', `${this.opts.server}: the server's certificate does not verify (${code}); give the fleet CA with --ca <data>/tls/ca.crt or $WASMFLEET_CA`);
      }
      throw new WfError('SERVER_UNAVAILABLE', `${this.opts.server} (${code}); is "wasmfleet server" running?`);
    }
    const text = res.text;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new WfError('INTERNAL', `server answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (res.status < 200 || res.status >= 300) {
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
