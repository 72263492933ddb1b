// One registry of typed errors with stable codes (fastify's lib/errors.js habit).
// A code never changes meaning once released: devices report these strings as reason codes,
// the server answers HTTP errors with them, and the CLI maps them to exit codes.
// Every code is documented in docs/errors.md (a test checks that).

export interface ErrorSpec {
  /** HTTP status when the error reaches the HTTP API. */
  status: number;
  /** One line, what happened; details are appended by the thrower. */
  message: string;
}

export const ERROR_CODES = {
  // CBOR and envelope
  CBOR_MALFORMED: { status: 400, message: 'malformed CBOR' },
  CBOR_NON_CANONICAL: { status: 400, message: 'CBOR is not in deterministic encoding' },
  CBOR_TOO_LARGE: { status: 413, message: 'message exceeds its size bound' },
  CBOR_UNSUPPORTED: { status: 400, message: 'CBOR item outside the protocol profile (a tag, a simple value other than false/true/null, a float)' },
  CBOR_FIELD_INVALID: { status: 400, message: 'invalid field' },
  CBOR_FIELD_MISSING: { status: 400, message: 'missing field' },
  CBOR_UNKNOWN_FIELD: { status: 400, message: 'unknown field' },
  COSE_MALFORMED: { status: 400, message: 'malformed COSE_Sign1' },
  COSE_BAD_ALG: { status: 400, message: 'unsupported COSE algorithm' },
  COSE_UNKNOWN_KID: { status: 400, message: 'signing key is not in the key document' },
  COSE_WRONG_ROLE: { status: 400, message: 'signing key does not hold the required role' },
  COSE_BAD_SIGNATURE: { status: 400, message: 'signature does not verify' },
  COSE_WRONG_TYPE: { status: 400, message: 'payload type is not the expected one' },
  // Keys and key documents
  KEY_EXPIRED: { status: 400, message: 'signing key has expired' },
  KEYDOC_EXPIRED: { status: 400, message: 'key document has expired' },
  KEYDOC_ROLLBACK: { status: 400, message: 'key document serial is older than the stored one' },
  KEYDOC_KID_MISMATCH: { status: 400, message: 'key id does not match its public key' },
  ROOT_CHAIN_BROKEN: { status: 400, message: 'root chain link is not signed by the root before it' },
  ROOT_ROLLBACK: { status: 400, message: 'root chain ends below the root version the device trusts' },
  FRESHNESS_EXPIRED: { status: 400, message: 'freshness statement has expired' },
  FRESHNESS_ROLLBACK: { status: 400, message: 'freshness statement is older than the last one seen' },
  FRESHNESS_MISSING: { status: 400, message: 'no valid freshness statement seen within the window' },
  KEYS_EXIST: { status: 409, message: 'key files already exist' },
  KEYS_MISSING: { status: 400, message: 'key file not found' },
  KEYS_INVALID: { status: 400, message: 'key file is invalid' },
  // Directives and manifests (device checks, docs/protocol.md §4)
  DIRECTIVE_WRONG_DEVICE: { status: 400, message: 'directive is for another device' },
  DIRECTIVE_EXPIRED: { status: 400, message: 'directive has expired' },
  DIRECTIVE_REPLAY: { status: 400, message: 'directive sequence is not newer than the committed one' },
  DIRECTIVE_DOWNGRADE: { status: 400, message: 'older version without a rollback authorization' },
  DIRECTIVE_MANIFEST_MISSING: { status: 400, message: 'a release manifest named by the directive is not in the bundle' },
  DIRECTIVE_UNSUPPORTED: { status: 400, message: 'the directive asks for more than this host supports' },
  ROLLBACK_INVALID: { status: 400, message: 'rollback authorization does not cover this release' },
  ABI_UNSUPPORTED: { status: 400, message: 'host ABI version is not supported' },
  ABI_UNKNOWN_IMPORT: { status: 400, message: 'module imports a function outside host ABI v1' },
  ABI_BAD_SIGNATURE: { status: 400, message: 'module import or export has the wrong type' },
  ABI_MISSING_EXPORT: { status: 400, message: 'module lacks a required export' },
  CAPABILITY_NOT_GRANTED: { status: 400, message: 'module needs a capability the device does not grant' },
  MEMORY_TOO_LARGE: { status: 400, message: 'module memory does not fit the device' },
  // Images and chunks
  IMAGE_DIGEST_MISMATCH: { status: 400, message: 'image digest does not match the signed manifest' },
  IMAGE_TOO_LARGE: { status: 413, message: 'image exceeds the signed or allowed size' },
  CHUNK_INVALID: { status: 400, message: 'chunk is out of range or has the wrong length' },
  CHUNK_UNKNOWN_BLOB: { status: 404, message: 'no such blob' },
  CHUNK_TIMEOUT: { status: 504, message: 'chunk did not arrive in time' },
  CHUNK_STREAM_OFF: { status: 503, message: 'this server does not stream images (fan-out is off): pull the chunks' },
  CHUNK_STREAM_BUSY: { status: 503, message: 'the server streams as many images as it may at once: pull the chunks' },
  // Module execution on a device
  MODULE_INVALID: { status: 400, message: 'not a valid WebAssembly module' },
  MODULE_TRAP: { status: 400, message: 'module trapped' },
  MODULE_TIMEOUT: { status: 400, message: 'module exceeded its time budget' },
  MODULE_HEALTH: { status: 400, message: 'module reported unhealthy' },
  MODULE_INIT_FAILED: { status: 400, message: 'wf_init returned an error' },
  MODULE_CRASH_LOOP: { status: 400, message: 'module crashed repeatedly during probation' },
  MODULE_OUT_OF_MEMORY: { status: 400, message: 'module exhausted its memory' },
  // Registry and server
  MODULE_NOT_FOUND: { status: 404, message: 'no such module version' },
  MODULE_VERSION_CONFLICT: { status: 409, message: 'name@version already published with different bytes' },
  MANIFEST_MISMATCH: { status: 400, message: 'release manifest does not describe the uploaded module' },
  DEVICE_NOT_FOUND: { status: 404, message: 'unknown device' },
  DEVICE_EXISTS: { status: 409, message: 'device already exists' },
  DEVICE_ID_INVALID: { status: 400, message: 'invalid device id' },
  DEVICE_ID_RESERVED: { status: 400, message: 'device id is reserved for the server' },
  DEPLOY_NO_TARGETS: { status: 400, message: 'the selection matches no device' },
  DEPLOY_NO_PREVIOUS: { status: 409, message: 'device has no previous version to roll back to' },
  // Rollouts (docs/rollouts.md)
  ROLLOUT_NOT_FOUND: { status: 404, message: 'no such rollout' },
  ROLLOUT_POLICY_INVALID: { status: 400, message: 'invalid rollout policy' },
  ROLLOUT_CONFLICT: { status: 409, message: 'a device is already in another active rollout' },
  ROLLOUT_STATE: { status: 409, message: 'the rollout is not in a state that allows this' },
  ROLLOUT_NO_ELIGIBLE: { status: 409, message: 'pre-flight: no target device can run this release' },
  ROLLOUT_NEW_CAPABILITY: { status: 409, message: 'the release needs a capability its predecessor did not' },
  ROLLBACK_NOT_COVERED: { status: 400, message: 'no rollback authorization covers a release the targets run' },
  DEVICE_TIMEOUT: { status: 504, message: 'the device did not finish its update before the deadline' },
  DEVICE_NO_HELLO: { status: 409, message: 'the device has never said hello' },
  DEVICE_REVOKED: { status: 409, message: 'device credentials were revoked' },
  // Transport security (docs/security.md, transport)
  TRANSPORT_INSECURE: { status: 400, message: 'clear text on a non-loopback address needs --insecure' },
  TLS_MATERIAL_INVALID: { status: 400, message: 'TLS certificate or key file is missing or invalid' },
  TLS_CA_KEY_MISSING: { status: 409, message: 'the server has no CA key to issue device certificates with' },
  CERT_REQUEST_INVALID: { status: 400, message: 'invalid certificate signing request' },
  CERT_UNTRUSTED: { status: 401, message: 'certificate does not verify against the trusted CA' },
  CERT_IDENTITY_MISMATCH: { status: 401, message: 'client certificate CN is not the MQTT client id' },
  CERT_REVOKED: { status: 401, message: 'client certificate was revoked or replaced' },
  REQUEST_INVALID: { status: 400, message: 'invalid request' },
  REQUEST_TOO_LARGE: { status: 413, message: 'request body exceeds the limit' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no such API route' },
  AUTH_REQUIRED: { status: 401, message: 'missing or wrong operator token' },
  AUTH_FORBIDDEN: { status: 403, message: "the operator token's role does not allow this" },
  AUTH_THROTTLED: { status: 429, message: 'too many failed authentication attempts from this address' },
  SESSION_EXPIRED: { status: 401, message: 'the console session has ended (signed out, expired, or its operator token was revoked)' },
  CSRF_REFUSED: { status: 403, message: 'a request that changes state with the session cookie must carry the session\'s X-WF-CSRF header' },
  ORIGIN_REFUSED: { status: 403, message: 'the request comes from another origin than this server' },
  TOKEN_NOT_FOUND: { status: 404, message: 'no such operator token' },
  TOKEN_LAST_ADMIN: { status: 409, message: 'the last admin token cannot be revoked' },
  // Storage (the data directory)
  STORE_DISK_FULL: { status: 507, message: 'the data directory is full' },
  STORE_READ_ONLY: { status: 507, message: 'the data directory is not writable' },
  STORE_IO: { status: 500, message: 'the data directory could not be read or written' },
  STORE_CORRUPT: { status: 500, message: 'a stored blob does not match its digest' },
  STORE_UNREACHABLE: { status: 503, message: 'the database cannot be reached' },
  SERVER_UNAVAILABLE: { status: 503, message: 'server is not reachable' },
  BROKER_CREDENTIALS_FAILED: { status: 502, message: 'the external broker did not take the device credentials' },
  // Simulator
  ENGINE_UNAVAILABLE: { status: 400, message: 'the requested Wasm engine is not available' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WfError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, detail?: string, details?: Record<string, unknown>) {
    const spec = ERROR_CODES[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message);
    this.name = 'WfError';
    this.code = code;
    this.status = spec.status;
    this.details = details;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Wrap anything thrown into a WfError, keeping typed errors as they are. */
export function asWfError(err: unknown, fallback: ErrorCode = 'INTERNAL'): WfError {
  if (err instanceof WfError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WfError(fallback, message);
}
