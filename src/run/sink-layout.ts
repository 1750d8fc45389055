import type { SinkLayout } from '../sink/sink.js';
import type { JobPlan } from './plan-job.js';

/** What the sink learns of a planned run: the columns it writes, the identity it records. */
export function sinkLayout(
  plan: JobPlan,
  runId: string,
  scoredAt = new Date(),
  lock: { readonly wait?: boolean; readonly waitTimeoutMs?: number; readonly warn?: (message: string) => void } = {},
): SinkLayout {
  return {
    job: plan.job.name,
    shard: plan.job.shard,
    keyFields: plan.keyFields,
    outputs: plan.outputs,
    modelName: plan.modelName,
    modelVersion: plan.modelVersion,
    models: plan.models.map((m) => ({ name: m.spec.name, version: m.version })),
    routed: plan.job.combine.mode === 'route',
    ...(plan.job.rejects ? { rejects: plan.job.rejects } : {}),
    checkpointing: plan.job.checkpointRows !== undefined,
    wait: lock.wait === true,
    ...(lock.waitTimeoutMs !== undefined ? { waitTimeoutMs: lock.waitTimeoutMs } : {}),
    ...(lock.warn ? { warn: lock.warn } : {}),
    partition: plan.job.partition,
    runId,
    scoredAt,
  };
}
