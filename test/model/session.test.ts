import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadModel } from '../../src/model/load-model.js';
import { createSession } from '../../src/model/session.js';
import { onnxFixture } from '../support/paths.js';

describe('model loading', () => {
  it("names the locale a StringNormalizer model needs instead of onnxruntime's raw error", async () => {
    const hasLocale = execSync('locale -a').toString().toLowerCase().includes('en_us.utf8');
    const created = createSession(readFileSync(onnxFixture('tutorial_model.onnx')), 'tutorial_model.onnx', {
      providers: ['cpu'],
      intraOpThreads: 1,
    });
    if (hasLocale) await expect(created).resolves.toBeDefined();
    else {
      await expect(created).rejects.toMatchObject({
        constructor: UsageError,
        message:
          'model: tutorial_model.onnx uses StringNormalizer, which needs the en_US.UTF-8 locale on this machine; install it (Debian: apt-get install locales && localedef -i en_US -f UTF-8 en_US.UTF-8).',
      });
    }
  });

  it('falls back from an execution provider this build cannot start, with a warning', async () => {
    const warnings: string[] = [];
    const s = await createSession(
      readFileSync(onnxFixture('test_xgb.onnx')),
      'test_xgb.onnx',
      { providers: ['cuda', 'cpu'], intraOpThreads: 1 },
      (w) => warnings.push(w),
    );
    await s.release();
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/^model\.providers: cuda could not start here \(.+\); falling back to cpu\.$/);
  });

  it('refuses a provider list with nothing that can run', async () => {
    await expect(
      createSession(readFileSync(onnxFixture('test_xgb.onnx')), 'test_xgb.onnx', {
        providers: ['cuda'],
        intraOpThreads: 1,
      }),
    ).rejects.toThrow('model.providers: none of cuda can run on this machine; add cpu to the list.');
  });

  it('rewrites ZipMap outputs into probability tensors named like the original output, keeping the class labels', async () => {
    const m = await loadModel(onnxFixture('SklearnBinRandomForestClassifier.model.onnx'));
    expect(m.zipmaps).toEqual([{ output: 'probabilities', labels: ['A', 'B'] }]);
    expect(m.original.outputs.map((o) => o.typeText)).toEqual(['tensor(string)[1]', 'seq(map(string,tensor(float)))']);
    expect(m.graph.outputs.map((o) => o.typeText)).toEqual(['tensor(string)[1]', 'tensor(float)[N,2]']);
  });
});
