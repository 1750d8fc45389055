import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { argAfter, deployDir, expectValidCommand, readDeploy } from './support.js';

// kubernetes-models checks a manifest against the API's OpenAPI schema without a cluster: types,
// enums, required fields. Like that schema it lets unknown fields through (the API server's strict
// field validation refuses them), so a misspelt key is caught by the command checks below or not at all.
const models = { CronJob, Job } as const;

const manifests = readdirSync(path.join(deployDir, 'kubernetes'))
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readDeploy(`kubernetes/${f}`)).map((d, i) => ({ name: `${f}#${i}`, doc: d.toJS() })),
  );

describe('Kubernetes manifests', () => {
  it.each(manifests)('$name is valid against the Kubernetes schema', ({ doc }) => {
    const Model = models[doc.kind as keyof typeof models];
    expect(Model, `no model for kind ${doc.kind}: add it to the map above`).toBeDefined();
    expect(() => new Model(doc).validate()).not.toThrow();
  });

  it('the validation has teeth: a wrong enum or a missing required field is refused', () => {
    const cron = parse(readDeploy('kubernetes/cronjob.yaml'));
    cron.spec.concurrencyPolicy = 'Never';
    expect(() => new CronJob(cron).validate()).toThrow(
      'data/spec/concurrencyPolicy must be equal to one of the allowed values',
    );
    const job = parse(readDeploy('kubernetes/indexed-job.yaml'));
    delete job.spec.template.spec.containers[0].name;
    expect(() => new Job(job).validate()).toThrow(
      'data/spec/template/spec/containers/0 must have required property name',
    );
  });

  it('a CronJob and an Indexed Job whose shard count matches its completions; 2 and 3 fail without retries', () => {
    const cron = parse(readDeploy('kubernetes/cronjob.yaml'));
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expectValidCommand(c.args);
    expect(cron.spec.jobTemplate.spec.podFailurePolicy.rules[0]).toEqual({
      action: 'FailJob',
      onExitCodes: { containerName: c.name, operator: 'In', values: [2, 3] },
    });
    const job = parse(readDeploy('kubernetes/indexed-job.yaml'));
    expect(job.spec.completionMode).toBe('Indexed');
    const jc = job.spec.template.spec.containers[0];
    expectValidCommand(jc.args);
    expect(argAfter(jc.args, '--param')).toMatch(/^ds=\d{4}-\d{2}-\d{2}$/);
    expect(jc.env.find((e: { name: string }) => e.name === 'MLSCALE_SHARDS').value).toBe(String(job.spec.completions));
    expect(job.spec.podFailurePolicy.rules[0]).toEqual({
      action: 'FailIndex',
      onExitCodes: { containerName: jc.name, operator: 'In', values: [2, 3] },
    });
  });

  it('pods run as non-root with a read-only root file system and no privileges to escalate', () => {
    for (const { name, doc } of manifests) {
      const pod = doc.kind === 'CronJob' ? doc.spec.jobTemplate.spec.template.spec : doc.spec.template.spec;
      expect(pod.securityContext, name).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const c of pod.containers)
        expect(c.securityContext, name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
    }
  });
});
