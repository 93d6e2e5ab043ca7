/** Drives a relay's HTTP control API (a relay in a container or another process). */
import type { WanCommand } from './control.js';
import type { WanState } from './relay.js';
import type { CutMode, DirectionSelector, DirectionSettingsPatch } from './settings.js';

export const DEFAULT_CONTROL_TIMEOUT_MS = 5_000;

export class WanClient {
  constructor(private readonly baseUrl: string, private readonly timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS) {}

  async state(): Promise<WanState> {
    return this.request('GET');
  }
  set(direction: DirectionSelector, settings: DirectionSettingsPatch): Promise<WanState> {
    return this.send({ action: 'set', direction, settings });
  }
  cut(direction: DirectionSelector, mode: CutMode): Promise<WanState> {
    return this.send({ action: 'cut', direction, mode });
  }
  heal(options: { keepDamaged?: boolean } = {}): Promise<WanState> {
    return this.send({ action: 'heal', ...options });
  }
  send(command: WanCommand): Promise<WanState> {
    return this.request('POST', command);
  }

  private async request(method: 'GET' | 'POST', body?: unknown): Promise<WanState> {
    const init: RequestInit = { method, signal: AbortSignal.timeout(this.timeoutMs) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await fetch(`${this.baseUrl.replace(/\/$/, '')}/v1/wan`, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`wan control ${method} ${res.status}: ${text}`);
    return JSON.parse(text) as WanState;
  }
}
