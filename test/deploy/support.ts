import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { repoRoot } from '../support/paths.js';

export const deployDir = path.join(repoRoot, 'deploy');
export const readDeploy = (p: string) => readFileSync(path.join(deployDir, p), 'utf8');

export function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

/** Every --flag in an mlscale command line must be one the named subcommand accepts. */
export function expectValidCommand(args: string[]) {
  const program = buildProgram();
  const sub = program.commands.find((c) => c.name() === args[0]);
  expect(sub, `unknown command ${args[0]}`).toBeDefined();
  const known = new Set(sub!.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
  for (const a of args.slice(1))
    if (a.startsWith('--')) expect(known.has(a.split('=')[0]!), `${args[0]} has no option ${a}`).toBe(true);
}

/** The value after `flag` in an argument list, or undefined. */
export function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** The path of a tool on this machine, or undefined (a test that needs it then says why it skips). */
export function which(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** What test/deploy/dag-facts.py reads in the Airflow DAG file (python3 and ast; Airflow is not needed). */
export interface DagFacts {
  top_imports: { module: string; names: string[] }[];
  guarded_imports: {
    try: { module: string; names: string[] }[];
    except: { types: string[]; imports: { module: string; names: string[] }[] }[];
  }[];
  constants: Record<string, unknown>;
  classes: Record<
    string,
    {
      bases: string[];
      methods: Record<
        string,
        { catches: string[]; raises: string[]; assigns: string[]; super_keywords: Record<string, unknown> }
      >;
    }
  >;
  calls: { func: string; keywords: Record<string, unknown> }[];
  strings: string[];
}

export function dagFacts(): DagFacts {
  const script = path.join(repoRoot, 'test', 'deploy', 'dag-facts.py');
  return JSON.parse(
    execFileSync('python3', [script, path.join(deployDir, 'airflow', 'mlscale_dag.py')], { encoding: 'utf8' }),
  ) as DagFacts;
}

/** An Airflow template as rendered for a run scheduled on 2024-01-31. */
export const renderDs = (s: string) => s.replaceAll('{{ data_interval_end | ds }}', '2024-01-31');
