/**
 * Topic registry for control frames (`{ t: 'ctl', topic, body }`): later protocols such as
 * anti-entropy ('ae') or lease votes ('vote') register a handler without touching the codec.
 * Handlers validate their own `body`: it comes from the peer unchecked.
 */
import type { Logger } from '../infra/log.js';

export type ControlHandler = (peer: string, body: unknown) => void | Promise<void>;

export class ControlRegistry {
  private readonly handlers = new Map<string, ControlHandler>();

  register(topic: string, handler: ControlHandler): () => void {
    if (this.handlers.has(topic)) throw new Error(`control topic ${topic} already registered`);
    this.handlers.set(topic, handler);
    return () => this.handlers.delete(topic);
  }

  /** Dispatches one control frame; a handler failure is logged, never thrown into the link. */
  dispatch(peer: string, topic: string, body: unknown, log: Logger): boolean {
    const handler = this.handlers.get(topic);
    if (!handler) {
      log.debug({ topic }, 'control frame for unregistered topic ignored');
      return false;
    }
    try {
      const result = handler(peer, body);
      if (result instanceof Promise) result.catch((err: unknown) => log.error({ err, topic }, 'control handler failed'));
    } catch (err) {
      log.error({ err, topic }, 'control handler failed');
    }
    return true;
  }
}
