import type { Job } from '../config/job.js';
import type { PredictionsAt } from './predictions.js';

/** Where the job's challengers' predictions are written; none until the job lists challengers. */
export function challengersAt(_job: Job): PredictionsAt[] {
  return [];
}
