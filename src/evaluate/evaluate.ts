import type { Job } from '../config/job.js';
import { MlscaleError, UsageError } from '../errors.js';
import { compareScores, type Comparison } from './compare.js';
import { computeMetrics, inferTask, type Metrics, type Task } from './metrics.js';
import { readLabels, type Labels } from './labels.js';
import { readPredictions, type Predictions, type PredictionsAt } from './predictions.js';

/** What the labels held, against the partition's predictions. */
export interface LabelCounts {
  readonly rows: number;
  /** Distinct labelled keys that were scored in this partition. */
  readonly matched: number;
  /** Distinct labelled keys this partition never scored: ignored, counted. */
  readonly unscored: number;
  readonly nulls: number;
  readonly not_yet_known: number;
  readonly duplicates: number;
  /**
   * Published rows whose key an earlier published row of the partition already has (a source
   * that held the same rows twice): each is measured, so such a key counts twice in the metrics.
   */
  readonly duplicate_predictions: number;
  readonly known_until: string | null;
}

/** The metrics of one model version's rows in a partition. */
export interface ModelQuality {
  /** champion: the published predictions; challenger: a model scored beside them. */
  readonly role: 'champion' | 'challenger';
  readonly model_name: string;
  readonly model_version: string;
  readonly run_ids: readonly string[];
  readonly metrics: Readonly<Record<string, Metrics>>;
  /** A challenger against the champion on the rows both scored, per prediction column both have. */
  readonly comparison?: Readonly<Record<string, Comparison>>;
}

/** One evaluation of one partition: what `evaluate --json` prints and what is stored. */
export interface Evaluation {
  readonly job: string;
  readonly partition: string;
  readonly ds: string;
  readonly evaluated_at: string;
  readonly labels: LabelCounts;
  /** The published predictions of the partition, every model version together, keyed by prediction column. */
  readonly metrics: Readonly<Record<string, Metrics>>;
  /** The same per model version, the champion's first, then challengers'. */
  readonly models: readonly ModelQuality[];
  /** Prediction columns that hold text, which no metric applies to. */
  readonly skipped_columns: readonly string[];
  /** Challengers with nothing published for the partition (one that failed, or was added later), and why. */
  readonly missing_challengers: readonly { readonly name: string; readonly reason: string }[];
}

/** Where the champion's predictions of the job's partition are. */
export function championAt(job: Job): PredictionsAt {
  const s = job.sink;
  return s.kind === 'postgres'
    ? { kind: 'postgres', url: s.url, schema: s.schema, table: s.table, job: job.name }
    : { kind: 'parquet', path: s.path };
}

/**
 * Joins the labels that have arrived with the partition's published predictions and measures
 * them, per prediction column and model version. Nothing is written.
 */
export async function evaluatePartition(
  job: Job,
  options: {
    now?: Date;
    challengers?: readonly { readonly name: string; readonly at: PredictionsAt }[];
    signal?: AbortSignal;
  } = {},
): Promise<Evaluation> {
  if (!job.labels)
    throw new UsageError(
      `${job.file}: job ${job.name} has no labels: block; add one naming where the outcomes arrive (labels: { parquet: { path: ... }, column: ... }).`,
      { code: 'labels_missing' },
    );
  const now = options.now ?? new Date();
  const labels = await readLabels(job, now, options.signal);
  const champion = await readPredictions(job, championAt(job), options.signal);
  const tasks = new Map<string, Task>();
  const metrics = measure(job, champion, labels, () => true, tasks);
  const challengers: Predictions[] = [];
  const missing: { name: string; reason: string }[] = [];
  for (const { name, at } of options.challengers ?? []) {
    try {
      challengers.push(await readPredictions(job, at, options.signal));
    } catch (err) {
      if (!(err instanceof MlscaleError && err.code === 'predictions_missing')) throw err;
      missing.push({ name, reason: err.message });
    }
  }
  const models = [
    ...byModel(job, champion, labels, tasks, 'champion'),
    ...challengers.flatMap((p) => {
      const comparison = compare(job, champion, p, labels, tasks);
      return byModel(job, p, labels, tasks, 'challenger').map((m) => ({ ...m, comparison }));
    }),
  ];
  const scored = new Set(champion.keys);
  let unscored = 0;
  for (const k of labels.byKey.keys()) if (!scored.has(k)) unscored++;
  return {
    job: job.name,
    partition: job.partition,
    ds: job.ds,
    evaluated_at: now.toISOString(),
    labels: {
      rows: labels.rows,
      matched: labels.byKey.size - unscored,
      unscored,
      nulls: labels.nulls,
      not_yet_known: labels.notYetKnown,
      duplicates: labels.duplicates,
      duplicate_predictions: champion.keys.length - scored.size,
      known_until: labels.knownUntil,
    },
    metrics,
    models,
    skipped_columns: champion.skipped,
    missing_challengers: missing,
  };
}

function byModel(job: Job, p: Predictions, labels: Labels, tasks: Map<string, Task>, role: ModelQuality['role']) {
  const versions = [...new Set(p.models)];
  return versions.map((v): ModelQuality => {
    const [name, version] = v.split('\u0000') as [string, string];
    return {
      role,
      model_name: name,
      model_version: version,
      run_ids: [...p.runIds].sort(),
      metrics: measure(job, p, labels, (i) => p.models[i] === v, tasks),
    };
  });
}

/** The challenger's scores paired by key with the champion's, per column both have, compared. */
function compare(
  job: Job,
  champion: Predictions,
  challenger: Predictions,
  labels: Labels,
  tasks: ReadonlyMap<string, Task>,
): Record<string, Comparison> {
  const out: Record<string, Comparison> = {};
  for (const [column, theirs] of challenger.columns) {
    const ours = champion.columns.get(column);
    const task = tasks.get(column);
    if (!ours || !task) continue;
    const byKey = new Map<string, number>();
    ours.forEach((v, i) => {
      if (!Number.isNaN(v) && !byKey.has(champion.keys[i]!)) byKey.set(champion.keys[i]!, v);
    });
    const a: number[] = [];
    const b: number[] = [];
    const y: number[] = [];
    theirs.forEach((v, i) => {
      const k = challenger.keys[i]!;
      const c = byKey.get(k);
      if (c === undefined || Number.isNaN(v)) return;
      a.push(c);
      b.push(v);
      y.push(labels.byKey.get(k) ?? NaN);
    });
    out[column] = compareScores(Float64Array.from(a), Float64Array.from(b), Float64Array.from(y), {
      task,
      threshold: job.evaluation.threshold,
    });
  }
  return out;
}

/**
 * Metrics of each numeric prediction column over the rows `take` keeps. A column's task is
 * decided once, on the first rows measured (the whole partition), so every model version of it
 * is judged the same way.
 */
function measure(
  job: Job,
  p: Predictions,
  labels: Labels,
  take: (row: number) => boolean,
  tasks: Map<string, Task>,
): Record<string, Metrics> {
  const out: Record<string, Metrics> = {};
  for (const [column, values] of p.columns) {
    const scores: number[] = [];
    const ys: number[] = [];
    let predictions = 0;
    let invalid = 0;
    for (let i = 0; i < values.length; i++) {
      if (!take(i)) continue;
      if (Number.isNaN(values[i]!)) {
        invalid++;
        continue;
      }
      predictions++;
      const y = labels.byKey.get(p.keys[i]!);
      if (y === undefined) continue;
      scores.push(values[i]!);
      ys.push(y);
    }
    let task = tasks.get(column);
    if (!task) {
      task = job.evaluation.task === 'auto' ? inferTask(scores, ys) : job.evaluation.task;
      tasks.set(column, task);
    }
    if (task === 'binary') {
      const bad = ys.find((y) => y !== 0 && y !== 1);
      if (bad !== undefined)
        throw new UsageError(
          `labels: column "${job.labels!.column}" holds ${bad}, but evaluate.task: binary needs labels of 0/1 or true/false; fix the labels or set evaluate.task: regression.`,
          { code: 'label_type' },
        );
    }
    const m = computeMetrics(scores, ys, { task, threshold: job.evaluation.threshold, predictions });
    const measured = task === 'binary' && p.classColumns.has(column) ? asClassLabels(m) : m;
    out[column] = invalid > 0 ? { ...measured, invalid_scores: invalid } : measured;
  }
  return out;
}

const RANKED = ['roc_auc', 'pr_auc', 'log_loss', 'brier'] as const;

/**
 * A 0/1 class label output (the model's own decision) is measured by accuracy, precision, recall
 * and F1 only: ranking and probability metrics of a hard 0/1 are degenerate (log loss of a wrong
 * hard label is ~36), and a gate such as max_log_loss would judge the label as if it were a score.
 */
function asClassLabels(m: Metrics): Metrics {
  const reasons: Record<string, string> = { ...m.undefined_reasons };
  const nulls: Record<string, null> = {};
  for (const k of RANKED) {
    nulls[k] = null;
    reasons[k] = 'a class label (0/1), not a score: measured by accuracy, precision, recall and F1';
  }
  const { calibration: _calibration, ...rest } = m;
  return { ...rest, ...nulls, undefined_reasons: reasons };
}
