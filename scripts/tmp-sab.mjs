import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
const bytes = readFileSync('/work/main/demo/churn.onnx');
const sab = new SharedArrayBuffer(bytes.length);
const u = new Uint8Array(sab);
u.set(bytes);
try {
  const s = await ort.InferenceSession.create(u);
  console.log('sab ok', s.inputNames);
} catch (e) {
  console.log('sab fail', e.message);
}
