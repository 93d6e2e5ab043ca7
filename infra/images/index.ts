/** Container images of the project: the registry-free local test image and its inputs, and local stand-ins for the base images the production files name. */
export { buildLocalImage, inputsHash, DEFAULT_LOCAL_IMAGE_REPO, LOCAL_IMAGE_DOCKERFILE, LOCAL_IMAGE_LAYOUT_VERSION } from './local-image.js';
export type { LocalImage, LocalImageOptions } from './local-image.js';
export { plan, parseLdd, productionPackages, DEFAULT_IMAGE_BINARIES, ETC_FILES, ImageInputError } from './rootfs.js';
export type { RootfsFile } from './rootfs.js';
export { ensureDist, distIsStale, BUILD_STAMP } from './dist.js';
export { ensureBaseImages, debianMirror, NODE_BASE_TAG, REDIS_BASE_TAG, STANDIN_LABEL, BaseImageError } from './base-images.js';
export type { BaseImageOptions, BaseImageResult } from './base-images.js';
