/** WAN emulator: a shaped, breakable TCP relay for cross-region links, with an HTTP control API. */
export {
  WanRelay, DEFAULT_BUFFER_BYTES_MAX, DEFAULT_CONNECTIONS_MAX, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_JITTER_SEED,
} from './relay.js';
export type { HostPort, WanRelayOptions, WanStats, DirectionStats, WanState, HealOptions } from './relay.js';
export { DEFAULT_DIRECTION_SETTINGS, WanSettingsError, parseSettingsPatch } from './settings.js';
export type { Direction, DirectionSelector, CutMode, DirectionSettings, DirectionSettingsPatch } from './settings.js';
export { wanControlApp, applyWanCommand, parseWanCommand, DEFAULT_CONTROL_BODY_BYTES_MAX } from './control.js';
export type { WanCommand } from './control.js';
export { runWan, parseHostPort, HostPortError } from './run.js';
export type { RunWanOptions, RunningWan } from './run.js';
export { wanCommand, parseWanArgs, WanUsageError, WAN_USAGE } from './cli.js';
export { WanClient } from './client.js';
