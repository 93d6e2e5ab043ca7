/**
 * The production image as the container suite builds it (test/containers/deploy.test.ts):
 * `docker build -f infra/Dockerfile .` from the project root under a stable tag, so a later
 * build reuses the cache (the `npm ci` layer) of an earlier one.
 */
import { join } from 'node:path';

export const DEPLOY_IMAGE_TAG = 'geogate:deploy-test';
export const DEPLOY_IMAGE_LABEL = 'geogate.image=deploy-test';

/** The `docker build` arguments; `extra` goes before the context (e.g. `--cpu-shares`). */
export function deployBuildArgs(projectRoot: string, extra: readonly string[] = []): string[] {
  return ['build', '--label', DEPLOY_IMAGE_LABEL, ...extra, '-f', join(projectRoot, 'infra/Dockerfile'), '-t', DEPLOY_IMAGE_TAG, projectRoot];
}
