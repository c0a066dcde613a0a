import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { MAX_TEMPLATE_BYTES, templateSizeProblems } from '../../lib/stacks/synth-problem';
import { REPO_ROOT, exampleConfigInput, flowLike } from './helpers';

/** Runs bin/app.ts as the CDK CLI would, with the given context, and no bundling. */
function runApp(context: Record<string, unknown>, env: Record<string, string> = {}) {
  const out = mkdtempSync(join(tmpdir(), 'syncline-app-'));
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env, CDK_OUTDIR: out, CDK_CONTEXT_JSON: JSON.stringify({ ...context, 'aws:cdk:bundling-stacks': [] }) },
  });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout, out };
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

describe('bin/app.ts with a bad config', () => {
  it('prints the flow and JSON path of each schema problem and exits 1 without a stack trace', () => {
    // Prepare: an empty key and a misspelt conflict strategy in the example flow.
    const config = exampleConfigInput() as { flows: Record<string, unknown>[] };
    config.flows[0] = { ...config.flows[0], key: [], conflict: { strategy: 'newest' } };
    // Act
    const { code, stderr } = runApp({ syncline: config });
    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('flow "crm-contacts" at $.flows[0].key');
    expect(stderr).toContain('flow "crm-contacts" at $.flows[0].conflict.strategy');
    noStackTrace(stderr);
  });

  it('reads -c syncline:config=<file.yaml> and refuses an invalid value there, naming the path', () => {
    // Every target type has a runtime now, so the refusal comes from the schema.
    const dir = mkdtempSync(join(tmpdir(), 'syncline-cfg-'));
    const file = join(dir, 'flows.yaml');
    const flow = { ...flowLike('orders'), targets: [{ id: 'lake', type: 's3', prefix: 'orders/' }], audit: { retentionDays: 0 } };
    writeFileSync(file, stringify({ flows: [flow] }));
    const { code, stderr } = runApp({ 'syncline:config': file });
    expect(code).toBe(1);
    expect(stderr).toContain('flow "orders" at $.flows[0].audit.retentionDays');
    noStackTrace(stderr);
  });

  it('reports an invalid JSONata expression at synth time', () => {
    const config = exampleConfigInput() as { flows: Record<string, unknown>[] };
    const flow = config.flows[0] as { transform: Record<string, unknown> };
    config.flows[0] = { ...flow, transform: { ...flow.transform, compute: { fullName: 'firstName & (' } } };
    const { code, stderr } = runApp({ syncline: config });
    expect(code).toBe(1);
    expect(stderr).toContain('flow "crm-contacts" at $.flows[0].transform.compute.fullName');
    noStackTrace(stderr);
  });

  it('fails synth when a declared PII field can reach a target unmasked, naming field, path and target', () => {
    // Prepare: the example flow computes fullName from firstName; declaring first_name as PII taints both.
    const config = exampleConfigInput() as { flows: Record<string, unknown>[] };
    config.flows[0] = { ...config.flows[0], pii: ['first_name'] };
    // Act
    const { code, stderr } = runApp({ syncline: config });
    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('flow "crm-contacts" at $.flows[0].targets[0]: PII field "first_name" reaches target "replica" unmasked as "fullName": first_name → firstName (rename) → fullName (compute) → replica');
    expect(stderr).toContain('first_name → firstName (rename) → replica');
    noStackTrace(stderr);
  });

  it('names two ids that would give one resource id, and exits 1 without a stack trace', () => {
    // Prepare: a target "secret-crm" beside an http target "crm" with a secret; both would be "target-secret-crm".
    const config = exampleConfigInput() as { flows: { targets: unknown[] }[] };
    const flow = config.flows[0]!;
    config.flows[0] = {
      ...flow,
      targets: [...flow.targets, { id: 'secret-crm', type: 'dynamodb' }, { id: 'crm', type: 'http', url: 'https://crm.example.com/{key}', auth: { type: 'bearer', secretName: 'crm-token' } }],
    };
    const { code, stderr } = runApp({ syncline: config });
    expect(code).toBe(1);
    expect(stderr).toContain('flow "crm-contacts": two of its source or target ids give the same resource id "target-secret-crm"');
    noStackTrace(stderr);
  });

  it('names a stack over the 500 resources CloudFormation takes, and exits 1 without a stack trace', () => {
    // Prepare: ten flows of some 65 resources each, all in the root stack.
    const { code, stderr } = runApp({ syncline: { ...exampleConfigInput(), flowsPerStack: 10, flows: Array.from({ length: 10 }, (_, i) => flowLike(`flow-${i}`)) } });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toMatch(/^syncline: the config cannot be deployed:\n  \S+ has \d+ resources, over CloudFormation's limit of 500: before the first deploy, lower flowsPerStack \(now 10\); once deployed, pin flows/);
    noStackTrace(stderr);
  }, 120_000);

  it('says where to put the config when there is none', () => {
    const { code, stderr } = runApp({});
    expect(code).toBe(1);
    expect(stderr).toMatch(/syncline:config/);
    noStackTrace(stderr);
  });
});

describe('bin/app.ts and the region the CDK CLI targets', () => {
  it('warns in the cloud assembly, where `cdk synth` and `cdk deploy` print it, when a stream ARN is of another region', () => {
    // Prepare: the CLI passes its target region to the app as CDK_DEFAULT_REGION.
    const flow = (exampleConfigInput().flows as Record<string, unknown>[])[0]!;
    const arn = 'arn:aws:dynamodb:eu-west-1:111122223333:table/Orders/stream/2026-01-01T00:00:00.000';
    const syncline = { ...exampleConfigInput(), flows: [{ ...flow, sources: [{ id: 'orders', type: 'dynamodb-stream', streamArn: arn }] }] };
    const warnings = (region: string) => {
      const { code, out, stderr } = runApp({ syncline }, { CDK_DEFAULT_REGION: region, CDK_DEFAULT_ACCOUNT: '111122223333' });
      expect(code, stderr).toBe(0);
      // A stack's metadata sits in the manifest, or in the file it names (`additionalMetadataFile`).
      type Metadata = Record<string, { type: string; data: unknown }[]>;
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { metadata?: Metadata; additionalMetadataFile?: string }> };
      return Object.values(manifest.artifacts)
        .flatMap((a) => [a.metadata ?? {}, a.additionalMetadataFile ? (JSON.parse(readFileSync(join(out, a.additionalMetadataFile), 'utf8')) as Metadata) : {}])
        .flatMap((m) => Object.values(m).flat())
        .filter((m) => m.type === 'aws:cdk:warning' && /streamArn is a stream of eu-west-1, but the CDK CLI targets us-east-1/.test(String(m.data)));
    };

    // Act / Assess
    expect(warnings('us-east-1')).toHaveLength(1);
    expect(warnings('eu-west-1')).toEqual([]);
  });
});

describe('template size', () => {
  it('names each template over the 1 MB CloudFormation takes, and no other', () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncline-asm-'));
    writeFileSync(join(dir, 'Big.template.json'), 'x'.repeat(MAX_TEMPLATE_BYTES + 1));
    writeFileSync(join(dir, 'BigFlows1ABC.nested.template.json'), 'x'.repeat(MAX_TEMPLATE_BYTES));
    writeFileSync(join(dir, 'manifest.json'), 'x'.repeat(MAX_TEMPLATE_BYTES + 1));
    expect(templateSizeProblems(dir)).toEqual([expect.stringMatching(/^Big\.template\.json is 1000001 bytes, over the 1000000 CloudFormation takes/)]);
  });
});
