/**
 * Loads the store's Lua commands (one file each, `verbNoun-<numKeys>.lua`, contract comment
 * first), expands `--- @include "name"` from lua/includes/, and registers them with ioredis
 * `defineCommand` under a versioned name. ioredis sends EVALSHA and falls back to EVAL on
 * NOSCRIPT, so a restarted, empty Redis gets the scripts again without anything done here.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export const SCRIPT_VERSION = 1;
const LUA_DIR = new URL('./lua/', import.meta.url);

export const SCRIPTS = ['putRecord-11', 'applyChanges-3', 'trimLog-3', 'resolveConflict-15', 'reofferPending-4', 'trimConflicts-4'] as const;
export type ScriptFile = (typeof SCRIPTS)[number];

function expandIncludes(source: string, seen: Set<string>): string {
  return source.replace(/^--- @include "([a-z-]+)"$/gm, (_line, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8'), seen);
  });
}

export function loadScript(file: ScriptFile): { lua: string; numberOfKeys: number } {
  const lua = expandIncludes(readFileSync(new URL(`${file}.lua`, LUA_DIR), 'utf8'), new Set());
  return { lua, numberOfKeys: Number(file.split('-')[1]) };
}

/** ioredis command name for a script, e.g. `gg1_putRecord`. */
export function commandName(file: ScriptFile): string {
  return `gg${SCRIPT_VERSION}_${file.split('-')[0]}`;
}

export function defineScripts(redis: Redis): void {
  for (const file of SCRIPTS) {
    const name = commandName(file);
    if ((redis as unknown as Record<string, unknown>)[name]) continue;
    redis.defineCommand(name, loadScript(file));
  }
}

type Arg = string | number | Buffer;
/** Calls a defined script; Buffer variant keeps binary values intact. */
export function callScript(redis: Redis, file: ScriptFile, args: Arg[]): Promise<unknown> {
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[commandName(file)];
  if (!fn) throw new Error(`script ${file} not defined on this connection`);
  return fn.apply(redis, args);
}

export function callScriptBuffer(redis: Redis, file: ScriptFile, args: Arg[]): Promise<unknown> {
  const fn = (redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[`${commandName(file)}Buffer`];
  if (!fn) throw new Error(`script ${file} not defined on this connection`);
  return fn.apply(redis, args);
}
