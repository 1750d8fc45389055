import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { readParquetTable } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { hasStrace, straced } from '../support/strace.js';
import { findRuns } from '../../src/ledger/file-ledger.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// A run touches nothing outside its own partition: every templated or derived path, run ids,
// rejects files, and a publish killed at any rename or unlink.

const s = scratchDir('paths');
const ROWS = 3000;
const victim = path.join(s.dir, 'victim');
const job = (sinkPath: string, extra = '', name = 'job.yaml') =>
  s.file(
    name,
    `name: paths
params: { ds: "2024-01-01", region: eu }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
batch_size: 1000
parallelism: 1
sink:
  parquet: { path: "${sinkPath}", rows_per_file: 1000 }
${extra}`,
  );

function victimIntact(): void {
  expect(readdirSync(victim)).toEqual(['keep.txt']);
  expect(readFileSync(path.join(victim, 'keep.txt'), 'utf8')).toBe('precious');
}

beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: ROWS, features: 3, files: 1, rowGroupSize: 1000 });
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'keep.txt'), 'precious');
});
afterAll(() => s.remove());

describe('paths stay inside the sink root', () => {
  it('refuses every parameter value that leads the sink path out of its root or onto it, before writing', async () => {
    const file = job('out/{{ region }}/ds={{ ds }}');
    const cases: [string, string][] = [
      ['region=../../victim', 'region="../../victim", ds="2024-01-01"'],
      ['region=../..', 'region="../..", ds="2024-01-01"'],
    ];
    for (const [param, shown] of cases) {
      for (const command of ['score', 'validate']) {
        const r = await mlscale([command, '--job', file, '--param', param], { cwd: s.dir });
        expect(r.code).toBe(2);
        expect(errorLine(r)).toMatch(
          new RegExp(
            `^error: job\\.yaml: sink\\.parquet\\.path: "out/\\{\\{ region \\}\\}/ds=\\{\\{ ds \\}\\}" with ${escape(shown)} resolves to .+, which is not inside the sink's root ${escape(path.join(s.dir, 'out'))}; a parameter may not lead an output path out of it \\(check --param region, --param ds\\)\\.$`,
          ),
        );
      }
      victimIntact();
    }
    // A whole-path parameter that names the root itself would replace the root: refused too.
    const onRoot = await mlscale(['score', '--job', job('out/{{ region }}', '', 'root.yaml'), '--param', 'region='], {
      cwd: s.dir,
    });
    expect(onRoot.code).toBe(2);
    expect(errorLine(onRoot)).toContain(`which is not inside the sink's root ${path.join(s.dir, 'out')}`);
    expect(existsSync(path.join(s.dir, 'out'))).toBe(false);
    // Values that stay inside work.
    const ok = await mlscale(['score', '--job', file, '--param', 'region=eu'], { cwd: s.dir });
    expect(errorLine(ok)).toBe('');
    expect(existsSync(path.join(s.dir, 'out', 'eu', 'ds=2024-01-01', '_SUCCESS'))).toBe(true);
  });

  it('refuses, before writing, a parameter value that would add a directory, break name=value or overflow a name', async () => {
    const root = path.join(s.dir, 'wp');
    const file = job('wp/p={{ p }}', '', 'wp.yaml');
    /** Long values and names are shown cut at 60 characters. */
    const clip = (v: string) => JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
    const refused = (value: string, rule: string, template = 'wp/p={{ p }}') =>
      `error: wp.yaml: sink.parquet.path: "${template}" with p=${clip(value)}: ${rule}; check --param p.`;
    const slash = 'a value may not contain "/" or "\\" (it fills one directory name, and may not add directories)';
    const x = (n: number) => 'x'.repeat(n);
    const cases: [string, string][] = [
      ['x/y', slash],
      ['x\\y', slash],
      [
        'a=b',
        'a value may not contain "=" in the name=value directory "p=a=b" (Hive readers split it at its first "=")',
      ],
      [x(300), `the directory ${clip(`p=${x(300)}`)} would be 302 bytes; a directory name may have at most 255`],
      [
        x(200),
        `the partition directory ${clip(`p=${x(200)}`)} would be 202 bytes; it may have at most 100, so that the names mlscale gives its staging directories and locks beside it (with a run id of up to 128 characters) fit in 255`,
      ],
    ];
    for (const [value, rule] of cases) {
      for (const command of ['score', 'validate']) {
        const r = await mlscale([command, '--job', file, '--param', `p=${value}`], { cwd: s.dir });
        expect(r.code, `${command} p=${value.slice(0, 10)}`).toBe(2);
        expect(errorLine(r)).toBe(refused(value, rule));
      }
    }
    // A NUL (from the job file: argv cannot carry one).
    const withNul = readFileSync(file, 'utf8').replace('region: eu }', 'region: eu, p: "a\\0b" }');
    const nul = await mlscale(['validate', '--job', s.file('wp-nul.yaml', withNul)], { cwd: s.dir });
    expect(nul.code).toBe(2);
    expect(errorLine(nul)).toBe(
      refused('a\0b', 'a value may not contain a NUL character').replace('wp.yaml', 'wp-nul.yaml'),
    );
    // "." or nothing as a whole directory, even where it stays inside the root, changes the depth
    // (".." is refused as a climb, above).
    const deep = 'wp/{{ region }}/{{ p }}/ds={{ ds }}';
    for (const [value, rule] of [
      ['.', 'a value may not make a directory "." or ".."'],
      ['', 'a value may not leave a directory name empty'],
    ] as const) {
      const r = await mlscale(['validate', '--job', job(deep, '', 'wp.yaml'), '--param', `p=${value}`], {
        cwd: s.dir,
      });
      expect(r.code, value).toBe(2);
      expect(errorLine(r)).toBe(refused(value, rule, deep));
    }
    expect(existsSync(root)).toBe(false);
    // A plain value publishes its own partition.
    const ok = await mlscale(['score', '--job', job('wp/p={{ p }}', '', 'wp.yaml'), '--param', 'p=x'], { cwd: s.dir });
    expect(errorLine(ok)).toBe('');
    expect(readdirSync(root).filter((f) => !f.startsWith('_'))).toEqual(['p=x']);
  }, 120_000);

  it('refuses a climbing value after a literal prefix (out_{{ region }}) and a symbolic link out of the root', async () => {
    const prefixed = job('out_{{ region }}/ds={{ ds }}', '', 'prefixed.yaml');
    for (const value of ['/../victim', 'x/../../victim']) {
      const r = await mlscale(['score', '--job', prefixed, '--param', `region=${value}`], { cwd: s.dir });
      expect(r.code, value).toBe(2);
      expect(errorLine(r)).toContain(`with region="${value}", ds="2024-01-01" resolves to`);
      victimIntact();
    }
    // A link inside the root that points outside it: refused before anything is created there.
    mkdirSync(path.join(s.dir, 'linked'), { recursive: true });
    symlinkSync(victim, path.join(s.dir, 'linked', 'link'));
    const linked = await mlscale(
      ['score', '--job', job('linked/{{ region }}/ds={{ ds }}', '', 'linked.yaml'), '--param', 'region=link'],
      {
        cwd: s.dir,
      },
    );
    expect(linked.code).toBe(2);
    expect(errorLine(linked)).toBe(
      `error: sink: ${path.join(s.dir, 'linked', 'link', 'ds=2024-01-01')} leads through a symbolic link to ${path.join(victim, 'ds=2024-01-01')}, outside the sink's root ${path.join(s.dir, 'linked')}; fix sink.parquet.path or the link.`,
    );
    victimIntact();
  });

  it('refuses run ids that are not plain names, before writing', async () => {
    const file = job('out2/ds={{ ds }}');
    for (const id of ['/../../victim', '..', 'a/b', 'x'.repeat(129), 'a b', '']) {
      const r = await mlscale(['score', '--job', file, '--run-id', id], { cwd: s.dir });
      expect(r.code).toBe(2);
      expect(errorLine(r)).toBe(
        `error: --run-id: "${id}" is not a valid run id; use up to 128 letters, digits, "_", "." and "-" (not only dots).`,
      );
    }
    victimIntact();
    expect(existsSync(path.join(s.dir, 'out2'))).toBe(false);
  });

  it('keeps rejects out of the sink root and partitions out of the names readers skip', async () => {
    const root = path.join(s.dir, 'out3');
    const validate = async (extra: string, ...args: string[]) =>
      mlscale(['validate', '--job', job('out3/{{ region }}/ds={{ ds }}', extra), ...args], { cwd: s.dir });
    // The old form, a file inside the partition, is refused with the directory to write instead.
    const old = await validate('rejects: { file: _rejects.parquet }');
    expect(old.code).toBe(2);
    expect(errorLine(old)).toMatch(
      /^error: job\.yaml(:\d+:\d+)?: rejects\.file: rejected rows now go to a tree of their own, beside the predictions and out of their globs; write rejects: \{ dir: out3_rejects \} instead\.$/,
    );
    // A rejects tree inside the sink root (or holding it) would be read as predictions by root/** globs.
    for (const dir of ['out3/rejects', 'out3', '.']) {
      const r = await validate(`rejects: { dir: "${dir}" }`);
      expect(r.code, dir).toBe(2);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `^error: job\\.yaml(:\\d+:\\d+)?: rejects\\.dir: ${escape(path.resolve(s.dir, dir))} overlaps the sink's root ${escape(root)}; readers of ${escape(root)}/\\*\\*/\\*\\.parquet would take rejected rows for predictions\\. Name a directory beside it, such as out3_rejects\\.$`,
        ),
      );
    }
    const templated = await validate('rejects: { dir: "rej/{{ ds }}" }');
    expect(templated.code).toBe(2);
    expect(errorLine(templated)).toMatch(/rejects\.dir: "rej\/\{\{ ds \}\}" is one directory for every partition/);
    expect((await validate('rejects: { dir: out3_rejects }')).code).toBe(0);
    // A partition directory named like mlscale's ledger or a hidden file: readers would skip it.
    for (const region of ['_mlscale', '.hidden', 'eu/_tmp']) {
      const r = await validate('', '--param', `region=${region}`);
      expect(r.code, region).toBe(2);
      const hidden = region.split('/').at(-1)!;
      expect(errorLine(r)).toBe(
        `error: job.yaml: sink.parquet.path: "out3/{{ region }}/ds={{ ds }}" with region="${region}", ds="2024-01-01" resolves to ${path.join(root, region, 'ds=2024-01-01')}, whose directory "${hidden}" starts with "${hidden[0]}": Spark and pyarrow skip such directories (and ${root}/_mlscale holds mlscale's run ledger); name the partition without a leading "_" or ".".`,
      );
    }
    expect(existsSync(root)).toBe(false);
  });

  it('compares real paths: a symbolic link does not get the rejects tree into the sink root, or the root into it', async () => {
    const validate = async (sinkPath: string, rejects: string) =>
      mlscale(['validate', '--job', job(sinkPath, `rejects: { dir: "${rejects}" }`, 'linked-rejects.yaml')], {
        cwd: s.dir,
      });
    const overlap = (given: string, real: string, root: string) =>
      `error: linked-rejects.yaml: rejects.dir: ${given} (through a symbolic link, ${real}) overlaps the sink's root ${root}; readers of ${root}/**/*.parquet would take rejected rows for predictions. Name a directory beside it, such as ${path.basename(root)}_rejects.`;
    // A link beside the root that leads into it (the root exists, or not yet: a dangling link).
    const root = path.join(s.dir, 'out5');
    mkdirSync(root);
    symlinkSync(root, path.join(s.dir, 'rlink'));
    symlinkSync(path.join(s.dir, 'out6'), path.join(s.dir, 'rlink6'));
    for (const [sinkPath, rejects, real] of [
      ['out5/ds={{ ds }}', 'rlink/rej', path.join(root, 'rej')],
      ['out6/ds={{ ds }}', 'rlink6/rej', path.join(s.dir, 'out6', 'rej')],
    ] as const) {
      const r = await validate(sinkPath, rejects);
      expect(r.code, rejects).toBe(2);
      expect(errorLine(r)).toBe(overlap(path.join(s.dir, rejects), real, path.dirname(real)));
    }
    // A sink root reached through a link into the rejects tree.
    mkdirSync(path.join(s.dir, 'rej7'));
    symlinkSync(path.join(s.dir, 'rej7', 'preds'), path.join(s.dir, 'slink'));
    const inside = await validate('slink/ds={{ ds }}', 'rej7');
    expect(inside.code).toBe(2);
    expect(errorLine(inside)).toBe(
      `error: linked-rejects.yaml: rejects.dir: ${path.join(s.dir, 'rej7')} overlaps the sink's root ${path.join(s.dir, 'slink')} (through a symbolic link, ${path.join(s.dir, 'rej7', 'preds')}); readers of ${path.join(s.dir, 'slink')}/**/*.parquet would take rejected rows for predictions. Name a directory beside it, such as slink_rejects.`,
    );
    // A link to a directory beside the root is fine.
    mkdirSync(path.join(s.dir, 'rej8'));
    symlinkSync(path.join(s.dir, 'rej8'), path.join(s.dir, 'rlink8'));
    const fine = await validate('out5/ds={{ ds }}', 'rlink8');
    expect(errorLine(fine)).toBe('');
    expect(readdirSync(root)).toEqual([]);
  });
});

const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The visible partition: its run id and row count, or undefined when there is none. */
function visible(dir: string): { runId: string; rows: number } | undefined {
  if (!existsSync(dir)) return undefined;
  expect(existsSync(path.join(dir, '_SUCCESS'))).toBe(true);
  const runId = JSON.parse(readFileSync(path.join(dir, '_mlscale_run.json'), 'utf8')).run_id as string;
  const rows = readdirSync(dir)
    .filter((f) => /^part-\d+\.parquet$/.test(f))
    .reduce((n, f) => n + readParquetTable(path.join(dir, f)).numRows, 0);
  return { runId, rows };
}

/** What sits beside a partition directory: staging, set-aside copies, locks (not the root's run ledger, _mlscale). */
const beside = (target: string) =>
  readdirSync(path.dirname(target))
    .filter((f) => f !== path.basename(target) && f !== '_mlscale')
    .map((f) => path.join(path.dirname(target), f));

describe.skipIf(!hasStrace)('a publish killed at any rename or unlink', () => {
  it('leaves the old or the new partition visible once the next run starts, and loses nothing complete', async () => {
    const file = job('pub/ds={{ ds }}');
    const target = path.join(s.dir, 'pub', 'ds=2024-01-01');
    const score = (runId: string) => ['score', '--job', file, '--run-id', runId];
    expect((await mlscale(score('base'), { cwd: s.dir })).code).toBe(0);
    for (const syscall of ['rename', 'unlink', 'rmdir']) {
      // How many calls a publish over an existing partition makes under the scratch directory.
      const total = straced(s.dir, score(`count-${syscall}`), syscall).count;
      expect(total).toBeGreaterThan(0);
      for (let n = 1; n <= total; n++) {
        const before = visible(target)!;
        const killed = straced(s.dir, score(`k-${syscall}-${n}`), syscall, n);
        expect(killed.status).toBeNull(); // killed by the signal
        const after = visible(target);
        // Between the two renames the partition may be missing, but never half there.
        if (after) {
          expect([before.runId, `k-${syscall}-${n}`]).toContain(after.runId);
          expect(after.rows).toBe(ROWS);
        }
        // The next run recovers first; killed at its first call of the same kind (the recovery's
        // own rename, when the partition was missing), a complete copy is still there to recover.
        straced(s.dir, score(`r-${syscall}-${n}`), syscall, 1);
        const complete = [target, ...beside(target)].filter((d) => existsSync(path.join(d, '_SUCCESS')));
        expect(complete.length).toBeGreaterThan(0);
        for (const d of complete) expect(visible(d)!.rows).toBe(ROWS);
        // ...and it holds the data the killed publish replaced or published, not only the new run's own.
        const kept = complete.map((d) => visible(d)!.runId);
        expect(kept.some((id) => id === before.runId || id === `k-${syscall}-${n}`)).toBe(true);
        // And a run left alone publishes and leaves nothing beside the partition.
        const next = await mlscale(score(`n-${syscall}-${n}`), { cwd: s.dir });
        expect(errorLine(next)).toBe('');
        expect(visible(target)).toEqual({ runId: `n-${syscall}-${n}`, rows: ROWS });
        expect(beside(target)).toEqual([]);
        // The root's ledger holds whole records only, and a killed run whose files went live reads as succeeded.
        const records = readdirSync(path.join(s.dir, 'pub', '_mlscale', 'runs'));
        expect(records.filter((f) => f.startsWith('.') || !f.endsWith('.json'))).toEqual([]);
        const runs = await findRuns(path.join(s.dir, 'pub'));
        if (after?.runId === `k-${syscall}-${n}`)
          expect(runs.find((r) => r.run_id === after.runId)?.status).toBe('succeeded');
      }
    }
  }, 600_000);

  it('a first publish killed before its commit point is never published by a later run', async () => {
    const file = job('fresh/ds={{ ds }}', '', 'fresh.yaml');
    const target = path.join(s.dir, 'fresh', 'ds=2024-01-01');
    // The first rename of a first publish (moving a live partition aside) is where it dies.
    expect(straced(s.dir, ['score', '--job', file, '--run-id', 'killed'], 'rename', 1).status).toBeNull();
    expect(existsSync(target)).toBe(false);
    // The next run recovers first, then fails its own gate: the killed run's staged copy is gone, not live.
    const nan = s.file('fresh-nan.yaml', readFileSync(file, 'utf8').replace('model.onnx', 'nan.onnx'));
    writeFileSync(path.join(s.dir, 'nan.onnx'), logisticModel({ weights: [NaN, 0, 0], bias: 0, inputName: 'x' }));
    expect((await mlscale(['score', '--job', nan], { cwd: s.dir })).code).toBe(3);
    expect(existsSync(target)).toBe(false);
    expect(beside(target)).toEqual([]);
  });
});
