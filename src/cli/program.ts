import { Command, InvalidArgumentError, Option } from 'commander';
import { VERSION } from '../version.js';
import { commanderErrorJson } from './fatal.js';
import { EVALUATE_HELP, PROGRAM_HELP, SCHEDULE_HELP, SCORE_HELP, VALIDATE_HELP } from './help.js';

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a positive whole number, got "${value}".`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * A required option, checked once commander has refused unknown options: its own requiredOption
 * is checked first, so a typo (`--jbo x`) was reported as a missing --job instead of with the
 * "Did you mean --job?" that the unknown-option check gives.
 */
function requireOption(command: Command, flags: string, description: string): Command {
  const option = new Option(flags, `${description} (required)`);
  return command.addOption(option).hook('preAction', (cmd) => {
    if (cmd.getOptionValue(option.attributeName()) === undefined)
      cmd.error(`error: required option '${flags}' not specified`, {
        code: 'commander.missingMandatoryOptionValue',
      });
  });
}

/**
 * The command table. Each action lazily imports its command module, so `mlscale --help`
 * never loads onnxruntime or the Parquet decoder. With `json`, command-line mistakes are
 * reported as one JSON line (without the usage hint), like every other fatal error.
 */
export function buildProgram(options: { json?: boolean } = {}): Command {
  const program = new Command('mlscale')
    .description(
      'Batch scoring for ONNX models: Parquet in, predictions out to Postgres or Parquet, atomically and idempotently.',
    )
    .version(VERSION)
    .option('--verbose', 'show stack traces on errors')
    .addHelpText('after', PROGRAM_HELP)
    .exitOverride();
  // Before any .command(): subcommands copy these settings when they are made.
  if (options.json) program.configureOutput({ outputError: (text, write) => write(commanderErrorJson(text)) });
  else program.showHelpAfterError('(run with --help for usage)');

  const logFormat = new Option(
    '--log-format <format>',
    'log format on stderr (default: text on a terminal, json otherwise)',
  ).choices(['text', 'json']);

  requireOption(program.command('score'), '--job <file>', 'job file (YAML)')
    .description('score a job: read, infer, publish')
    .addHelpText('after', SCORE_HELP)
    .option('--param <k=v>', 'set a job parameter (repeatable), e.g. --param ds=2024-01-31', collect, [])
    .option('--parallelism <n>', 'the most scoring worker threads, started as needed', positiveInt('--parallelism'))
    .option('--batch-size <n>', 'rows per chunk', positiveInt('--batch-size'))
    .option('--limit <n>', 'score at most N rows', positiveInt('--limit'))
    .option('--shard <I/N>', 'score shard I of N (default: JOB_COMPLETION_INDEX of MLSCALE_SHARDS when both are set)')
    .option(
      '--resume',
      'continue the last failed run of this job and partition from its last checkpoint (needs checkpoint_rows)',
    )
    .option(
      '--wait [seconds]',
      'wait for a run holding the same job, partition and shard instead of exiting 4 (at most SECONDS, then exit 4)',
      positiveInt('--wait'),
    )
    .option('--allow-partial', 'let a --limit run replace a partition that already holds rows')
    .option('--dry-run', 'score but write nothing')
    .option('--run-id <id>', 'use this run id instead of a generated one')
    .addOption(logFormat)
    .option('--no-progress', 'no progress line on a terminal')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (opts) => (await import('./commands/score.js')).scoreCommand(opts));

  requireOption(program.command('validate'), '--job <file>', 'job file (YAML)')
    .description(
      'check the job (its schedule too), its model, its source and its sink against each other, as score and schedule would; writes nothing',
    )
    .addHelpText('after', VALIDATE_HELP)
    .option('--param <k=v>', 'set a job parameter (repeatable)', collect, [])
    .option('--shard <I/N>', 'check as shard I of N would run (default: JOB_COMPLETION_INDEX of MLSCALE_SHARDS)')
    .addOption(
      new Option('--log-format <format>', 'warnings and the error on stderr as text or JSON lines').choices([
        'text',
        'json',
      ]),
    )
    .action(async (opts) => (await import('./commands/validate.js')).validateCommand(opts));

  requireOption(program.command('evaluate'), '--job <file>', 'job file (YAML) with a labels: block')
    .description(
      "measure a partition's published predictions against the labels that have arrived; store the metrics beside the ledger; exit 3 past a monitor: gate",
    )
    .addHelpText('after', EVALUATE_HELP)
    .option('--param <k=v>', 'set a job parameter (repeatable), e.g. --param ds=2024-01-31', collect, [])
    .option('--json', 'print the evaluation as JSON on stdout')
    .addOption(
      new Option('--log-format <format>', 'the error on stderr as text or a JSON line').choices(['text', 'json']),
    )
    .action(async (opts) => (await import('./commands/evaluate.js')).evaluateCommand(opts));

  program
    .command('inspect')
    .description('show a model: inputs, outputs, types, shapes, opsets, metadata')
    .argument('<model>', 'path to an .onnx file')
    .option('--json', 'print as JSON')
    .action(async (model, opts) => (await import('./commands/inspect.js')).inspectCommand(model, opts));

  program
    .command('runs')
    .description('list runs from the run ledger, newest first')
    .option('--job <name|file>', 'only runs of this job (a job file: its sink says where the ledger is)')
    .addOption(
      new Option('--status <status>', 'only runs with this status').choices([
        'running',
        'succeeded',
        'failed',
        'abandoned',
      ]),
    )
    .option(
      '--since <when>',
      'only runs started since a date (2024-01-31), a time (ISO 8601) or a duration ago (7d, 12h, 30m)',
    )
    .option('--limit <n>', 'at most N runs', positiveInt('--limit'), 20)
    .option('--json', 'print as JSON')
    .option('--url <url>', 'Postgres URL of the ledger (default: $DATABASE_URL)')
    .option('--schema <schema>', 'schema holding mlscale_runs (default: every schema that has one)')
    .option(
      '--dir <path>',
      'read _mlscale_run.json files under this Parquet output directory (or s3:// prefix) instead',
    )
    .action(async (opts) => (await import('./commands/runs.js')).runsCommand(opts));

  program
    .command('report')
    .description(
      'write a self-contained HTML report of a run: facts, prediction histograms against the baseline, feature drift, trend, model quality against labels',
    )
    .argument('[run_id]', 'the run (default: the newest run of --job)')
    .option('--job <name|file>', 'report on the newest run of this job (a job file: its sink says where the ledger is)')
    .option('--out <file>', 'write the page here (default: stdout)')
    .option('--last <n>', 'runs in the trend chart', positiveInt('--last'), 30)
    .option('--url <url>', 'Postgres URL of the ledger (default: $DATABASE_URL)')
    .option('--schema <schema>', 'schema holding mlscale_runs (default: every schema that has one)')
    .option(
      '--dir <path>',
      'read _mlscale_run.json files under this Parquet output directory (or s3:// prefix) instead',
    )
    .action(async (runId, opts) => (await import('./commands/report.js')).reportCommand(runId, opts));

  program
    .command('schedule')
    .description('run every job file that has schedule: (or evaluate.schedule:), on its cron expression, until SIGTERM')
    .addHelpText('after', SCHEDULE_HELP)
    .argument('[paths...]', 'job files or directories (default: jobs/)')
    .option('--host <address>', 'address for --port to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'serve /healthz and Prometheus /metrics on this port', (v) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError(`--port must be a port number, got "${v}".`);
      return n;
    })
    .option(
      '--grace <seconds>',
      'on SIGTERM, how long running jobs may finish before they are aborted',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0)
          throw new InvalidArgumentError(`--grace must be a number of seconds, got "${v}".`);
        return n;
      },
      300,
    )
    .option('--state <file>', 'where the last tick of each job is kept (for catchup:)', '.mlscale-schedule.json')
    .addOption(new Option('--log-format <format>', 'log format on stderr (default: json)').choices(['text', 'json']))
    .action(async (paths, opts) => (await import('./commands/schedule.js')).scheduleCommand(paths, opts));

  return program;
}
