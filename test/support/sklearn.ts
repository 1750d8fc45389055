import { spawnSync } from 'node:child_process';

// scikit-learn as the metrics oracle: Debian's python3-sklearn under /usr/bin/python3 (the python3
// on PATH may be another interpreter without it). Where it is missing the oracle checks are
// skipped with a banner, never passed silently.
const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import sklearn; print(sklearn.__version__)'], { encoding: 'utf8' });
export const sklearnVersion: string | undefined = probe.status === 0 ? probe.stdout.trim() : undefined;
if (!sklearnVersion)
  process.stderr.write(
    `\n!! scikit-learn oracle checks SKIPPED: ${PYTHON} cannot import sklearn (apt-get install python3-sklearn)\n`,
  );

const ORACLE = `
import json, sys, warnings
import numpy as np
from sklearn import metrics
from sklearn.calibration import calibration_curve
warnings.simplefilter("ignore")
out = []
for case in json.load(sys.stdin):
    s = np.array(case["scores"], dtype=np.float64); y = np.array(case["labels"], dtype=np.float64)
    t = case["threshold"]
    if case["task"] == "regression":
        out.append({"rmse": float(np.sqrt(metrics.mean_squared_error(y, s))),
                    "mae": float(metrics.mean_absolute_error(y, s)), "r2": float(metrics.r2_score(y, s))})
        continue
    yp = (s >= t).astype(int)
    r = {"log_loss": float(metrics.log_loss(y, s, labels=[0, 1])),
         "brier": float(metrics.brier_score_loss(y, s)),
         "accuracy": float(metrics.accuracy_score(y, yp)),
         "precision": float(metrics.precision_score(y, yp, zero_division=0)),
         "recall": float(metrics.recall_score(y, yp, zero_division=0)),
         "f1": float(metrics.f1_score(y, yp, zero_division=0))}
    if 0 < y.sum() < len(y):
        r["roc_auc"] = float(metrics.roc_auc_score(y, s))
        r["pr_auc"] = float(metrics.average_precision_score(y, s))
        pt, pp = calibration_curve(y, s, n_bins=10, strategy="uniform")
        r["calibration"] = [[float(a), float(b)] for a, b in zip(pt, pp)]
    out.append(r)
print(json.dumps(out))
`;

export interface OracleCase {
  scores: number[];
  labels: number[];
  threshold: number;
  task: 'binary' | 'regression';
}

/** sklearn's metrics for each case: roc_auc, pr_auc (average_precision_score), log_loss, brier, … */
export function sklearnMetrics(cases: readonly OracleCase[]): Record<string, unknown>[] {
  const r = spawnSync(PYTHON, ['-c', ORACLE], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`sklearn oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>[];
}
