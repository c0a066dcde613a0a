import type { CompileTransform, Transformer } from '../core/transform/transform-core';
import { readingPacks } from '../handlers/packed-batch';
import { createTransformHandler } from '../handlers/transform-handler';
import { auditLog, quarantineStore, telemetry, type StepContext } from './step-context';

/** The transform, compiled once with the hash key of `hash` masks; a failed read of the key is retried by the next batch. */
export function transform(ctx: StepContext, hashKey: () => Promise<string>, compile: CompileTransform) {
  let compiled: Promise<Transformer> | undefined;
  const transformer = (): Promise<Transformer> =>
    (compiled ??= hashKey().then(
      (key) => compile(ctx.flow, { hashKey: key }),
      (err: unknown) => {
        compiled = undefined;
        throw err;
      },
    ));
  const handler = createTransformHandler({
    flow: ctx.flow,
    transformer,
    publisher: ctx.publisher,
    resolveQueueUrl: ctx.queueUrl('resolve'),
    audit: auditLog(ctx),
    quarantine: quarantineStore(ctx),
    ...telemetry(ctx),
  });
  return readingPacks(handler, { publisher: ctx.publisher, queueUrl: () => ctx.queueUrl('transform') });
}
