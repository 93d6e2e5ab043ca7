#!/usr/bin/env node
// Entry point of the `geogate` command: runs the compiled CLI (built by `npm run build`,
// which `npm ci` runs through `prepare`).
import { main } from '../dist/infra/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(`geogate: ${err?.message ?? err}`); process.exitCode = 1; },
);
