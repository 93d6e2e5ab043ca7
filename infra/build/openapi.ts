/**
 * Writes docs/openapi.json from the API's schemas (gateway/http/api-schema.ts): `npm run
 * openapi`. test/integration/openapi.test.ts fails when the kept file and the generated
 * document differ.
 */
import { writeFileSync } from 'node:fs';
import { API_VERSION, openApiDocument } from '../../gateway/http/api-schema.js';

export const OPENAPI_FILE = new URL('../../docs/openapi.json', import.meta.url);

export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(API_VERSION), null, 2)}\n`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/infra\//, '/infra/'))) {
  writeFileSync(OPENAPI_FILE, openApiText());
  process.stdout.write(`wrote ${OPENAPI_FILE.pathname}\n`);
}
