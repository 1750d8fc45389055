import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load-model.js';
import { decodeModel, graphInfo } from '../../src/model/onnx-graph.js';
import { skimModel } from '../../src/model/onnx-skim.js';
import { fixtures } from '../support/paths.js';

const models = readdirSync(path.join(fixtures, 'onnx'))
  .filter((f) => f.endsWith('.onnx'))
  .map((f) => path.join(fixtures, 'onnx', f));

describe('skimming a model for the planner', () => {
  it('gives every converter-exported fixture the interface that decoding it whole gives', async () => {
    expect(models.length).toBeGreaterThan(10);
    for (const file of models) {
      const bytes = readFileSync(file);
      const whole = decodeModel(bytes, file);
      const loaded = await loadModel(file);
      // ZipMap models are rewritten, so their original graph is what the whole decode says.
      expect(loaded.original, file).toEqual(graphInfo(whole));
      if (loaded.zipmaps.length === 0) expect(Buffer.from(loaded.runtimeBytes).equals(bytes), file).toBe(true);
    }
  });

  it('drops the bulk: node attributes and initializer contents', () => {
    const file = models.find((f) => f.endsWith('rf_iris.onnx'))!;
    const bytes = readFileSync(file);
    const skimmed = skimModel(bytes)!;
    const light = decodeModel(skimmed, file);
    expect(skimmed.length).toBeLessThan(bytes.length / 2);
    for (const node of light.graph!.node!)
      expect((node.attribute?.length ?? 0) > 0, node.opType ?? '').toBe(node.opType === 'ZipMap');
    for (const init of light.graph!.initializer ?? []) expect(init.rawData?.length ?? 0).toBe(0);
  });

  it('leaves bytes that are not a model to the whole decode, whose sentence names the file', async () => {
    expect(skimModel(Buffer.from('not a model, just text\n'))).toBeUndefined();
    const dir = mkdtempSync(path.join(tmpdir(), 'mlscale-skim-'));
    try {
      for (const cut of [200, 1000, 5000]) {
        const file = path.join(dir, `cut-${cut}.onnx`);
        writeFileSync(file, readFileSync(models.find((f) => f.endsWith('rf_iris.onnx'))!).subarray(0, cut));
        await expect(loadModel(file), String(cut)).rejects.toThrow(/^model: .*cut-\d+\.onnx is not an ONNX model/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
