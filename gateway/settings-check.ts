/**
 * The region's settings checks at its handshakes (issue 9): with the witness (the voter
 * subset, sent by the WitnessClient; a refusal is logged at error level and kept for
 * /v1/status) and with every peer (everything, compared in the replication link's
 * handshake; a refusal is logged by the replicator, which backs off before it dials again).
 * Exposed as `settings` in /v1/status and as the gauge `geogate_settings_mismatch{with}`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../infra/log.js';
import type { LinkSettings } from '../replicator/handshake.js';
import { describeDiff, diffSettings, parseSharedSettings, registerRegionSettings, settingsDigest, type SharedSettings } from '../witness/index.js';

export interface SettingsStatus {
  readonly digest: string;
  /** `agreed`, `unchecked` (no answer yet) or the witness's refusal, naming the field. */
  readonly witness: string;
  /** Peers whose settings differ, with the named reason. */
  readonly peers: Readonly<Record<string, string>>;
}

export class SettingsCheck {
  readonly digest: string;
  private witness = 'unchecked';
  private readonly peers = new Map<string, string>();
  private readonly gauge: Gauge<'with'>;
  private unregister: (() => void) | null = null;

  constructor(readonly settings: SharedSettings, private readonly region: string, private readonly log: Logger, registry: Registry) {
    this.digest = settingsDigest(settings);
    this.gauge = new Gauge({
      name: 'geogate_settings_mismatch', help: 'The shared settings of this region and the witness or a peer differ (1): votes or the link are refused',
      labelNames: ['with'], registers: [registry],
    });
  }

  /** The WitnessClient of this region towards `url` sends the settings (witness/client.ts). */
  attachWitness(url: string): void {
    this.unregister = registerRegionSettings(url, this.region, { settings: this.settings, onMismatch: (m) => this.onWitness(m) });
  }

  /** For the replication link's handshake. */
  link(): LinkSettings {
    return { local: this.settings, compare: (remote, peer) => this.comparePeer(remote, peer) };
  }

  status(): SettingsStatus {
    return { digest: this.digest, witness: this.witness, peers: Object.fromEntries(this.peers) };
  }

  close(): void {
    this.unregister?.();
    this.unregister = null;
  }

  private onWitness(message: string | null): void {
    if (message === null) {
      if (this.witness !== 'agreed') this.log.info('the witness accepts this region\'s settings');
      this.witness = 'agreed';
      this.gauge.set({ with: 'witness' }, 0);
      return;
    }
    if (message !== this.witness) this.log.error({ problem: message }, `SETTINGS MISMATCH with the witness: ${message}; it refuses this region's votes, renewals and grant requests`);
    this.witness = message;
    this.gauge.set({ with: 'witness' }, 1);
  }

  private comparePeer(remote: unknown, peer: string): string | null {
    const theirs = remote === undefined ? 'no settings sent' : parseSharedSettings(remote);
    const diff = typeof theirs === 'string' ? null : diffSettings(this.settings, theirs);
    const problem = typeof theirs === 'string' ? `unreadable settings (${theirs})` : diff ? describeDiff(diff, `region ${this.region}`, `region ${peer}`) : null;
    if (problem === null) {
      this.peers.delete(peer);
      this.gauge.set({ with: peer }, 0);
    } else {
      this.peers.set(peer, problem);
      this.gauge.set({ with: peer }, 1);
    }
    return problem;
  }
}
