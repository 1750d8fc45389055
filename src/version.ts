import { createRequire } from 'node:module';

/**
 * mlscale's version, from its package.json (shipped in every install: npm always packs it), so the
 * CLI's --version and the scheduler's build-info metric never disagree with the package.
 */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
