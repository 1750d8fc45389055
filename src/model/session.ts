import { createRequire } from 'node:module';
import type { InferenceSession } from 'onnxruntime-node';
import { RuntimeFailure, UsageError } from '../errors.js';

export interface SessionOptions {
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
}

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;

/** onnxruntime is loaded on first use so that `--help`, `validate` of a bad job and `runs` start fast. */
export function loadOrt(): Promise<Ort> {
  // require(): onnxruntime-node is CommonJS, and import() would first scan it for export names.
  ortModule ??= new Promise<Ort>((resolve) => resolve(createRequire(import.meta.url)('onnxruntime-node'))).then((m) => {
    // onnxruntime logs its own failures to stderr; mlscale reports them once, as sentences.
    m.env.logLevel = 'fatal';
    return m;
  });
  return ortModule;
}

/**
 * Creates an InferenceSession, turning onnxruntime's load errors into sentences that say what to
 * do. Execution providers are tried in the job's order: one this machine cannot start (no CUDA
 * libraries, say) is dropped with a warning and the next is tried; none left is an error.
 */
export async function createSession(
  bytes: Uint8Array,
  file: string,
  options: SessionOptions,
  onWarning?: (message: string) => void,
): Promise<InferenceSession> {
  const ort = await loadOrt();
  const known = new Set(listProviders(ort));
  let providers = options.providers.filter((p) => {
    if (known.has(p)) return true;
    onWarning?.(
      `model.providers: ${p} is not in this onnxruntime-node build (it has ${[...known].join(', ')}); skipping it.`,
    );
    return false;
  });
  for (;;) {
    if (providers.length === 0) {
      throw new UsageError(
        `model.providers: none of ${options.providers.join(', ')} can run on this machine; add cpu to the list.`,
        { code: 'provider_unavailable' },
      );
    }
    try {
      return await ort.InferenceSession.create(bytes, {
        executionProviders: providers,
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // onnxruntime prints load errors itself; we report them once, in our own words.
        logSeverityLevel: 4,
      });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const failed = providers.find((p) => p !== 'cpu' && new RegExp(`${p}|execution provider|\\.so`, 'i').test(msg));
      if (!failed) throw explainLoadError(err, file);
      onWarning?.(
        `model.providers: ${failed} could not start here (${firstLine(msg)}); falling back to ${providers.filter((p) => p !== failed).join(', ') || 'nothing'}.`,
      );
      providers = providers.filter((p) => p !== failed);
    }
  }
}

function listProviders(ort: Ort): string[] {
  const fn = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends;
  return fn ? fn().map((b) => b.name) : ['cpu'];
}

/** Maps onnxruntime load failures to what the user can do about them. */
export function explainLoadError(err: unknown, file: string): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (/string_normalizer|locale/i.test(msg)) {
    return new UsageError(
      `model: ${file} uses StringNormalizer, which needs the en_US.UTF-8 locale on this machine; install it (Debian: apt-get install locales && localedef -i en_US -f UTF-8 en_US.UTF-8).`,
      { code: 'model_needs_locale', cause: err },
    );
  }
  if (/protobuf parsing failed|Load model from .* failed|invalid model/i.test(msg)) {
    return new UsageError(
      `model: ${file} is not an ONNX model onnxruntime can load (${firstLine(msg)}); re-export it with an ONNX converter.`,
      { code: 'model_not_onnx', cause: err },
    );
  }
  if (/opset|not implemented|Could not find an implementation/i.test(msg)) {
    return new UsageError(
      `model: ${file} uses an operator this onnxruntime-node cannot run (${firstLine(msg)}); re-export it with a lower opset or standard operators.`,
      { code: 'model_unsupported', cause: err },
    );
  }
  return new RuntimeFailure(`model: ${file} failed to load in onnxruntime (${firstLine(msg)}).`, {
    code: 'model_load',
    cause: err,
  });
}

function firstLine(msg: string): string {
  return msg.split('\n')[0]!.slice(0, 300);
}
