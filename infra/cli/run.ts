/** The CLI from source (`node --import tsx infra/cli/run.ts …`): what bin/geogate.js does with the compiled dist. */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: Error) => { console.error(`geogate: ${err?.message ?? String(err)}`); process.exitCode = 1; },
);
