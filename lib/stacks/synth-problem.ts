import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A config that passes every check but cannot become a deployable stack; the app prints it like a config error. */
export class SynthProblem extends Error {
  override readonly name = 'SynthProblem';
}

/**
 * Two sources or targets whose ids, with the words syncline adds (`secret-`, `-schedule`, ...), give one construct
 * id ("secret-crm" beside an http target "crm"). Renaming construct ids would replace deployed resources, so the
 * collision is named instead.
 */
export function asSynthProblem(err: unknown, flowId: string): unknown {
  const m = err instanceof Error ? /There is already a Construct with name '([^']+)'/.exec(err.message) : null;
  if (!m) return err;
  return new SynthProblem(`flow "${flowId}": two of its source or target ids give the same resource id "${m[1]}"; rename one of them (an id that is another id with a word syncline adds, such as "secret-crm" beside "crm", collides)`);
}

/** CloudFormation takes a template of at most 1 MB from S3, where the CDK puts it. */
export const MAX_TEMPLATE_BYTES = 1_000_000;

/** Templates of a synthesized assembly (the root stack's and each nested one's) that CloudFormation would refuse. */
export function templateSizeProblems(assemblyDirectory: string): string[] {
  return readdirSync(assemblyDirectory)
    .filter((f) => f.endsWith('.template.json'))
    .flatMap((f) => {
      const bytes = statSync(join(assemblyDirectory, f)).size;
      return bytes > MAX_TEMPLATE_BYTES
        ? [`${f} is ${bytes} bytes, over the ${MAX_TEMPLATE_BYTES} CloudFormation takes: deploy some flows from a second config with another stackName (each flow adds about 8 KB of dashboard to the root template)`]
        : [];
    });
}
