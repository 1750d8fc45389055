import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  argAfter,
  dagFacts,
  expectValidCommand,
  readDeploy,
  renderDs,
  which,
  words,
  type DagFacts,
} from './support.js';

const python = which('python3');
if (!python) console.warn('python3 not found: the Airflow DAG checks are skipped (they read the DAG with ast).');

/** The module a name comes from: [preferred, fallback] when it is imported inside try/except ImportError. */
function sources(facts: DagFacts, name: string): string[] {
  for (const g of facts.guarded_imports) {
    const first = g.try.find((i) => i.names.includes(name));
    if (!first) continue;
    const fallback = g.except.find((h) => h.types.includes('ImportError'))?.imports.find((i) => i.names.includes(name));
    return [first.module, ...(fallback ? [fallback.module] : [])];
  }
  return facts.top_imports.filter((i) => i.names.includes(name)).map((i) => i.module);
}

describe.skipIf(!python)('Airflow DAGs (deploy/airflow/mlscale_dag.py, read with ast)', () => {
  const facts = python ? dagFacts() : ({} as DagFacts);
  const call = (func: string) => facts.calls.find((c) => c.func === func)!;

  it('imports what Airflow 3 has first and falls back to Airflow 2', () => {
    expect(sources(facts, 'BashOperator')).toEqual([
      'airflow.providers.standard.operators.bash',
      'airflow.operators.bash',
    ]);
    expect(sources(facts, 'DAG')).toEqual(['airflow.sdk', 'airflow']);
    for (const name of ['AirflowFailException', 'AirflowSkipException'])
      expect(sources(facts, name)).toEqual(['airflow.sdk.exceptions', 'airflow.exceptions']);
    // Nothing Airflow 3 removed is imported unguarded.
    expect(
      facts.top_imports.map((i) => i.module).filter((m) => /^airflow\.(operators|hooks|models)\b/.test(m)),
    ).toEqual([]);
  });

  it('exit 2 and 3 fail without a retry, on both operators (the same codes the Kubernetes Jobs fail at once on)', () => {
    const noRetry = facts.constants.NO_RETRY;
    expect(noRetry).toEqual([2, 3]);
    const cron = parse(readDeploy('kubernetes/cronjob.yaml'));
    const failJob = cron.spec.jobTemplate.spec.podFailurePolicy.rules.find(
      (r: { action: string }) => r.action === 'FailJob',
    );
    expect(failJob.onExitCodes.values).toEqual(noRetry);
    for (const [cls, base, methods] of [
      ['MlscaleBashOperator', 'BashOperator', ['execute']],
      ['MlscalePodOperator', 'KubernetesPodOperator', ['execute', 'trigger_reentry']],
    ] as const) {
      const c = facts.classes[cls]!;
      expect(c.bases).toEqual([base]);
      // skip_on_exit_code is how these operators report an exit code; the skip becomes a failure.
      expect(c.methods.__init__!.super_keywords.skip_on_exit_code).toEqual(noRetry);
      for (const m of methods) {
        expect(c.methods[m]!.catches, `${cls}.${m}`).toEqual(['AirflowSkipException']);
        expect(c.methods[m]!.raises, `${cls}.${m}`).toEqual(['AirflowFailException']);
      }
    }
    expect(call('DAG').keywords.default_args).toMatchObject({ retries: 2 });
  });

  it('the database URL is in no template: read from the connection at run time, or a Kubernetes Secret', () => {
    expect(facts.classes.MlscaleBashOperator!.methods.get_env!.assigns).toContain("env['DATABASE_URL']");
    expect(call('MlscaleBashOperator').keywords.conn_id).toBe('analytics');
    // No string (a template field's value or anything else) reaches a connection or a variable.
    for (const s of facts.strings) expect(s).not.toMatch(/\bconn\.|get_uri|\bvar\.|DATABASE_URL=/);
    for (const c of facts.calls)
      for (const k of ['env', 'env_vars']) expect(JSON.stringify(c.keywords[k] ?? {})).not.toContain('DATABASE_URL');
    const pod = call('MlscalePodOperator.partial');
    expect(pod.keywords.secrets).toEqual([{ Secret: ['env', 'DATABASE_URL', 'mlscale-db', 'url'] }]);
    const cron = parse(readDeploy('kubernetes/cronjob.yaml'));
    const env = cron.spec.jobTemplate.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef).toEqual({
      name: 'mlscale-db',
      key: 'url',
    });
  });

  it('each mlscale command is valid; the shards are 0..N-1 of N', () => {
    const bash = words(renderDs(call('MlscaleBashOperator').keywords.bash_command as string));
    expect(bash[0]).toBe('mlscale');
    expectValidCommand(bash.slice(1));
    const pod = call('MlscalePodOperator.partial');
    expect(pod.keywords.cmds).toEqual(['mlscale']);
    const shards = facts.calls.find((c) => c.func.endsWith('.expand'))!.keywords.arguments as string[][];
    const n = facts.constants.SHARDS as number;
    expect(shards.map((a) => argAfter(a, '--shard'))).toEqual(Array.from({ length: n }, (_, i) => `${i}/${n}`));
    for (const args of shards) expectValidCommand(args.map(renderDs));
  });
});
