/** Typed errors of the witness and the ownership agent. Each carries a stable `name`. */

export class WitnessConfigError extends Error {
  override readonly name = 'WitnessConfigError';
  constructor(readonly file: string, readonly field: string, detail: string) {
    super(`${file}: ${field}: ${detail}`);
  }
}

export class StateFileCorruptError extends Error {
  override readonly name = 'StateFileCorruptError';
  constructor(readonly file: string, detail: string) {
    super(`witness state file ${file} is corrupt: ${detail} (refusing to start with a reset state)`);
  }
}

/** The state file is absent: a new cluster must say so (`--init`); a silent fresh start could hand out an epoch twice. */
export class StateFileMissingError extends Error {
  override readonly name = 'StateFileMissingError';
  constructor(readonly file: string) {
    super(`witness state file ${file} does not exist: pass --init to start a new cluster, or restore the state file (starting an existing cluster without it could hand out an epoch twice)`);
  }
}

export class UnknownPartitionError extends Error {
  override readonly name = 'UnknownPartitionError';
  constructor(readonly keyspace: string, readonly partition: number) {
    super(`unknown partition ${keyspace}/${partition}`);
  }
}

export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

export class AuthError extends Error {
  override readonly name = 'AuthError';
}

export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
  constructor(detail: string, readonly retryAfterMs: number) {
    super(detail);
  }
}

export class WitnessUnreachableError extends Error {
  override readonly name = 'WitnessUnreachableError';
}

export class WitnessHttpError extends Error {
  override readonly name = 'WitnessHttpError';
  constructor(readonly status: number, detail: string) {
    super(`witness answered ${status}: ${detail}`);
  }
}
