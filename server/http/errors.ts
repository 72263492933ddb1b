// One place that turns anything thrown in a route into the API's error shape:
// { "error": { "code": "<STABLE_CODE>", "message": "..." } } with the code's HTTP status.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WfError } from '../../protocol/errors.js';
import { storeErrorOf } from '../store/store-errors.js';

export function errorBody(err: WfError) {
  return { error: { code: err.code, message: err.message } };
}

function fromFastify(err: FastifyError): WfError {
  if (err.validation) {
    const v = err.validation[0];
    const where = `${err.validationContext ?? 'request'}${v?.instancePath ?? ''}`;
    return new WfError('REQUEST_INVALID', `${where} ${v?.message ?? err.message}`);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new WfError('REQUEST_TOO_LARGE', err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new WfError('REQUEST_INVALID', err.message);
  return new WfError('INTERNAL', err.message);
}

/** A route that did not match: `fallback` may answer it (the console's app); else ROUTE_NOT_FOUND. */
export function installErrorHandling(app: FastifyInstance, fallback?: (request: FastifyRequest, reply: FastifyReply) => boolean): void {
  app.setErrorHandler((err: FastifyError | WfError, request, reply) => {
    // Disk faults (fs or SQLite) keep their typed code instead of becoming INTERNAL.
    const wf = err instanceof WfError ? err : (storeErrorOf(err) ?? fromFastify(err));
    // A disk fault is the operator's to fix, not a bug: one line with the path and cause, no stack.
    if (wf.code.startsWith('STORE_')) request.log.warn({ code: wf.code, err: wf.message }, 'request failed: data directory');
    else if (wf.status >= 500) request.log.error({ err }, 'request failed');
    void reply.status(wf.status).send(errorBody(wf));
  });
  app.setNotFoundHandler((request, reply) => {
    if (fallback?.(request, reply)) return;
    void reply.status(404).send(errorBody(new WfError('ROUTE_NOT_FOUND', `${request.method} ${request.url}`)));
  });
}

/** Strict base64 → bytes; names the field when it is not base64. */
export function base64Field(value: string, field: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new WfError('REQUEST_INVALID', `body/${field} is not base64`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}
