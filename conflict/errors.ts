/** Typed errors of the conflict folder. Operating errors only; programmer errors throw plain `Error`. */

export type TriggerLoadReason = 'bad-name' | 'duplicate' | 'too-many' | 'not-found' | 'import-failed' | 'not-a-function' | 'async';

/** A compensation trigger named in the config cannot be used (raised at boot, never later). */
export class TriggerLoadError extends Error {
  override readonly name = 'TriggerLoadError';
  constructor(
    readonly trigger: string,
    readonly reason: TriggerLoadReason,
    message: string,
  ) {
    super(`trigger "${trigger}": ${message}`);
  }
}

/** A keyspace's `resolver` setting is not one of the known resolvers. */
export class ResolverSpecError extends Error {
  override readonly name = 'ResolverSpecError';
  constructor(readonly spec: string) {
    super(
      `unknown resolver "${spec}": expected lww, source-wins, counter, set, json-merge or trigger:<name>`,
    );
  }
}
