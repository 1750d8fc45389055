import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Third-party fixtures live beside the repository (../shared/fixtures), never inside it. */
export const fixtures = process.env.MLSCALE_FIXTURES ?? path.resolve(repoRoot, '..', 'shared', 'fixtures');
export const onnxFixture = (name: string) => path.join(fixtures, 'onnx', name);
export const parquetFixture = (name: string) => path.join(fixtures, 'parquet-testing', name);
export const datasetFixture = (name: string) => path.join(fixtures, 'datasets', name);
export const bin = path.join(repoRoot, 'bin', 'mlscale.js');
