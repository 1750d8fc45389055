import { existsSync } from 'node:fs';
import { fixtures, repoRoot } from './paths.js';
import path from 'node:path';
import { pgStatus } from './pg.js';

/** Fails fast, with a reason, when the build or the shared fixtures are missing; says loudly when Postgres tests are skipped. */
export default async function setup(): Promise<void> {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm test` (it builds first) or `npm run build`.');
  if (!existsSync(fixtures))
    throw new Error(`fixtures not found at ${fixtures}; clone next to ../shared or set MLSCALE_FIXTURES.`);
  const pg = await pgStatus();
  if (!pg.ok) {
    const banner = `\n${'!'.repeat(78)}\n!! PostgreSQL tests SKIPPED: ${pg.reason}\n!! Set DATABASE_URL to a reachable server to run them.\n${'!'.repeat(78)}\n`;
    if (process.env.CI === 'true')
      throw new Error(`CI=true and PostgreSQL is unavailable (${pg.reason}); Postgres tests must run in CI.`);
    process.stderr.write(banner);
  }
}
