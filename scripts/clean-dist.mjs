// prepack: remove dist/ so the tarball holds what src/ compiles to now (prepare rebuilds it
// next), never a compiled file whose source was renamed or deleted since the last build.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
