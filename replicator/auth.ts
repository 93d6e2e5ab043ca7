/**
 * Mutual challenge–response for HELLO: each side proves it holds the cluster secret by an
 * HMAC-SHA256 over both nonces, the cluster id, both regions, the protocol version and its
 * role. The role keeps a proof from being reflected back; the nonces keep it from replay.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NONCE_BYTES } from './codec.js';

export type LinkRole = 'dialer' | 'server';

export interface ProofInput {
  readonly role: LinkRole;
  readonly version: number;
  readonly clusterId: string;
  readonly dialerRegion: string;
  readonly serverRegion: string;
  readonly dialerNonce: Uint8Array;
  readonly serverNonce: Uint8Array;
}

export function computeProof(secret: string, input: ProofInput): Uint8Array {
  const mac = createHmac('sha256', secret);
  const text = ['geogate-replication', input.role, input.version, input.clusterId, input.dialerRegion, input.serverRegion];
  mac.update(JSON.stringify(text));
  mac.update(input.dialerNonce);
  mac.update(input.serverNonce);
  return mac.digest();
}

export function verifyProof(secret: string, input: ProofInput, proof: Uint8Array | null): boolean {
  if (!proof) return false;
  const expected = computeProof(secret, input);
  return proof.byteLength === expected.byteLength && timingSafeEqual(proof, expected);
}

/** Cryptographic nonce (not the injected `random`: that one is for jitter and replay). */
export function newNonce(): Uint8Array {
  return randomBytes(NONCE_BYTES);
}
