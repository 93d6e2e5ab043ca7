/**
 * `npx tsx infra/images/base.ts`: makes the base images infra/Dockerfile and
 * infra/docker-compose.yml name (node:20-bookworm-slim, redis:7-bookworm) as local stand-ins
 * where no registry is reachable; an image already carrying the tag is kept. Prints one line per image.
 */
import { ensureBaseImages } from './base-images.js';

const results = await ensureBaseImages({ log: (m) => console.error(m) });
for (const r of results) console.log(`${r.tag} ${r.outcome} ${r.ms} ms`);
