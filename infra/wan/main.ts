/** Runs the WAN relay as its own process: `node dist/infra/wan/main.js --listen H:P --target H:P --control H:P`. */
import { wanCommand } from './cli.js';

wanCommand(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`geogate wan: ${(err as Error)?.message ?? String(err)}`);
    process.exitCode = 1;
  },
);
