// What a run records about its data: stored in the ledger, read by drift checks and the report.

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface Distribution {
  count: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  quantiles: Record<string, number>;
  histogram: Histogram;
}

export interface FeatureStats {
  null_rate: number;
  mean: number | null;
  std: number | null;
  histogram: Histogram;
}

export interface DriftReport {
  baseline_run_id: string;
  max_psi: number;
  /** Population stability index of each prediction column and feature against the baseline. */
  psi: { predictions: Record<string, number>; features: Record<string, number> };
  /** Columns over max_psi, worst first. */
  drifted: string[];
}

export interface RunStats {
  predictions: Record<string, Distribution>;
  features: Record<string, FeatureStats>;
  drift?: DriftReport;
}
