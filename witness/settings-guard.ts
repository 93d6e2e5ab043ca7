/**
 * The witness's side of the settings handshake: holds its own voter settings and digest,
 * answers a region's hello (refusing a disagreement, named: `leaseMs: witness 3000, region
 * east 6000`), and refuses any later request whose digest is not the witness's. Each new
 * disagreement is logged once per region and digest, at error level; every refusal counts.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../infra/log.js';
import { describeDiff, diffSettings, settingsDigest, SettingsMismatchError, voterSettings, type SharedSettings } from './shared-settings.js';

/** Regions whose last refused digest is remembered (bounded: the config has at most 16). */
const REMEMBERED_MAX = 64;

export class SettingsGuard {
  readonly settings: SharedSettings;
  readonly digest: string;
  private readonly refused = new Map<string, { digest: string; message: string }>();
  private readonly refusals: Counter<'region'>;

  constructor(settings: SharedSettings, private readonly log: Logger, registry: Registry) {
    this.settings = voterSettings(settings);
    this.digest = settingsDigest(this.settings);
    this.refusals = new Counter({
      name: 'geogate_witness_settings_refusals_total', help: 'Requests refused because the region\'s shared settings differ from the witness\'s',
      labelNames: ['region'], registers: [registry],
    });
  }

  /** A region's full settings: its digest when they agree, else `SettingsMismatchError` naming the field. */
  hello(region: string, remote: SharedSettings): string {
    const theirs = voterSettings(remote);
    const diff = diffSettings(this.settings, theirs);
    if (!diff) {
      if (this.refused.delete(region)) this.log.info({ region }, 'region settings agree with the witness now');
      return this.digest;
    }
    const digest = settingsDigest(theirs);
    const message = `settings differ from the witness's: ${describeDiff(diff, 'witness', `region ${region}`)}`;
    const before = this.refused.get(region);
    if (before?.digest !== digest) {
      this.log.error({ region, field: diff.field, witness: diff.local, regionValue: diff.remote }, `refusing region ${region}: ${message}`);
      if (!before && this.refused.size >= REMEMBERED_MAX) this.refused.delete(this.refused.keys().next().value!);
      this.refused.set(region, { digest, message });
    }
    this.refusals.inc({ region });
    throw new SettingsMismatchError(message, diff.field);
  }

  /** A request carrying `digest` (absent: a tool or test client without settings, accepted). */
  check(region: string, digest: string | undefined): void {
    if (digest === undefined || digest === this.digest) return;
    const known = this.refused.get(region);
    this.refusals.inc({ region: known ? region : 'unknown' });
    if (known?.digest === digest) throw new SettingsMismatchError(known.message);
    throw new SettingsMismatchError(`settings digest ${digest.slice(0, 12)} of region ${region} differs from the witness's ${this.digest.slice(0, 12)}; the region sends its settings to learn which field`);
  }
}
