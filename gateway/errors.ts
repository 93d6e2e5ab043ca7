/**
 * Every operating error the gateway reports, one class each, with its HTTP status and a
 * stable `code` for the JSON error body. Mapped to responses in one place (http/app.ts).
 */
export class GeogateError extends Error {
  override name = 'GeogateError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class BadRequestError extends GeogateError {
  override name = 'BadRequestError';
  constructor(message: string, code = 'bad_request') {
    super(message, 400, code);
  }
}

export class PayloadTooLargeError extends GeogateError {
  override name = 'PayloadTooLargeError';
  constructor(message: string) {
    super(message, 413, 'payload_too_large');
  }
}

export class NotFoundError extends GeogateError {
  override name = 'NotFoundError';
  constructor(message: string, code = 'not_found') {
    super(message, 404, code);
  }
}

export class PreconditionFailedError extends GeogateError {
  override name = 'PreconditionFailedError';
  constructor(message: string, readonly currentVersion?: string) {
    super(message, 412, 'precondition_failed');
  }
}

/** The Idempotency-Key names another request (a different method, key, headers or body). */
export class IdempotencyKeyReusedError extends GeogateError {
  override name = 'IdempotencyKeyReusedError';
  constructor(message: string) {
    super(message, 422, 'idempotency_key_reused');
  }
}

/** An operation the keyspace's resolver gives no meaning (incr outside a counter keyspace, …). */
export class OperationNotSupportedError extends GeogateError {
  override name = 'OperationNotSupportedError';
  constructor(message: string, code = 'operation_not_supported') {
    super(message, 409, code);
  }
}

/** This region may not take the write; the region that may is elsewhere. */
export class RedirectError extends GeogateError {
  override name = 'RedirectError';
  constructor(readonly region: string, location: string) {
    super(`partition is written at region ${region}`, 307, 'redirect', { location });
  }
}

/** The write cannot be taken anywhere right now (no lease, store down, replica missing). */
export class UnavailableError extends GeogateError {
  override name = 'UnavailableError';
  constructor(message: string, code: string, retryAfterS = 1) {
    super(message, 503, code, { 'retry-after': String(retryAfterS) });
  }
}

export class StoreUnavailableError extends UnavailableError {
  override name = 'StoreUnavailableError';
  constructor(cause: string) {
    super(`region store (Redis) unavailable: ${cause}`, 'store_unavailable', 1);
  }
}

/**
 * A write that may or may not have happened: Redis did not answer in time or the connection
 * closed under it, or the lease ended before the answer came. Never a success, never a
 * clean failure: the client must read before retrying (or retry idempotently).
 */
export class WriteOutcomeUnknownError extends UnavailableError {
  override name = 'WriteOutcomeUnknownError';
  constructor(cause: string) {
    super(`write outcome unknown (it may have happened): ${cause}`, 'write_outcome_unknown', 1);
  }
}

/** `durability: replica`: no in-region replica acknowledged a write lately; refused before it ran (nothing written). */
export class ReplicaUnavailableError extends UnavailableError {
  override name = 'ReplicaUnavailableError';
  constructor(cause: string) {
    super(`no in-region Redis replica acknowledges writes: ${cause}`, 'replica_unavailable', 1);
  }
}

export class FencedError extends UnavailableError {
  override name = 'FencedError';
  constructor(keyspace: string, partition: number) {
    super(`no valid write lease for ${keyspace}/${partition} in this region`, 'fenced', 1);
  }
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly field: string, problem: string) {
    super(`${file}: ${field || '(root)'}: ${problem}`);
  }
}
