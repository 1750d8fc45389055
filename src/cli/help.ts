import { EXIT } from '../errors.js';

/** What each exit code means; scripts, cron, Airflow and Kubernetes branch on these. */
const EXIT_MEANINGS: readonly (readonly [string, string])[] = [
  [`${EXIT.ok}`, 'success (also: nothing to score into an empty partition, with a warning)'],
  [`${EXIT.runtime}`, 'runtime failure (source, model, sink); nothing published; worth a retry'],
  [`${EXIT.usage}`, 'invalid usage or job, found before anything is published; do not retry'],
  [
    `${EXIT.quality}`,
    'quality gate failed (nulls, reject rate, drift, an empty result: nothing published; evaluate: a monitor: metric bound)',
  ],
  [`${EXIT.locked}`, 'another run holds this job, partition and shard (or --wait ran out)'],
  ['130/143', 'interrupted by SIGINT/SIGTERM; nothing published'],
];

export const EXIT_CODES_HELP = `\nExit codes:\n${EXIT_MEANINGS.map(([code, meaning]) => `  ${code.padEnd(9)}${meaning}`).join('\n')}\n`;

function examples(lines: readonly (readonly [string, string])[]): string {
  return `\nExamples:\n${lines.map(([cmd, what]) => `  # ${what}\n  $ ${cmd}`).join('\n')}\n`;
}

export const PROGRAM_HELP =
  examples([
    ['mlscale validate --job jobs/daily.yaml', 'check a job, its model and its source; writes nothing'],
    ['mlscale score --job jobs/daily.yaml --param ds=2024-01-31', 'score one day'],
    ['mlscale inspect model.onnx', 'what a model takes and gives, and a model: block for a job file'],
    ['mlscale runs --job jobs/daily.yaml --status failed --since 7d', 'failed runs of the last week'],
    [
      'mlscale evaluate --job jobs/daily.yaml --param ds=2024-01-24',
      "a week-old partition's predictions against their labels",
    ],
    ['mlscale schedule jobs/ --port 9477', 'run every job with a schedule:, serving /metrics'],
  ]) + EXIT_CODES_HELP;

export const SCORE_HELP =
  examples([
    ['mlscale score --job daily.yaml --param ds=2024-01-31', 'score a partition (a re-run replaces it)'],
    ['mlscale score --job daily.yaml --limit 1000 --dry-run', 'try the first 1000 rows, write nothing'],
    ['mlscale score --job daily.yaml --shard 0/4', 'score shard 0 of 4 (run the other three beside it)'],
    ['mlscale score --job daily.yaml --resume', 'continue the last failed checkpointed run'],
    ['mlscale score --job daily.yaml --log-format json --json', 'logs and the final error as JSON lines on stderr'],
  ]) + EXIT_CODES_HELP;

export const VALIDATE_HELP =
  examples([
    ['mlscale validate --job daily.yaml', 'check the job (its schedule too), model, source and sink'],
    ['mlscale validate --job daily.yaml --param ds=2024-01-31 --shard 0/4', 'as score would run it'],
  ]) +
  `\nExit codes: ${EXIT.ok} valid, ${EXIT.usage} invalid (the reason on stderr), ${EXIT.runtime} a source or sink could not be reached.\n`;

export const SCHEDULE_HELP =
  examples([
    ['mlscale schedule', 'every job file under jobs/ that has schedule:'],
    ['mlscale schedule jobs/daily.yaml --port 9477 --host 0.0.0.0', 'serve /healthz and /metrics to a pod probe'],
  ]) +
  `\nExit codes: ${EXIT.ok} stopped by SIGTERM/SIGINT, ${EXIT.usage} a job file is invalid (each one named); runs' own failures are logged and counted in /metrics.\n`;

export const EVALUATE_HELP =
  examples([
    ['mlscale evaluate --job daily.yaml --param ds=2024-01-24', "how good a week-old partition's predictions were"],
    ['mlscale evaluate --job daily.yaml --param ds=2024-01-24 --json', 'the metrics as one JSON object'],
  ]) +
  `\nExit codes: ${EXIT.ok} evaluated and stored, ${EXIT.quality} a monitor: gate is broken (the evaluation is stored), ${EXIT.usage} no labels: block, no published predictions, or bad labels, ${EXIT.runtime} labels or predictions could not be read.\n`;
