import type { FlowConfig } from '../config/schema';

/**
 * Whether a step queue carries packs (several records to an SQS message; see functions/core/packing.ts). A rate-limited
 * HTTP target's queue does not: its batch size is what keeps an invocation within its timeout at that rate.
 */
export function packedQueue(flow: FlowConfig, queueId: string): boolean {
  if (queueId === 'transform' || queueId === 'resolve') return true;
  const target = flow.targets.find((t) => `deliver-${t.id}` === queueId);
  return target !== undefined && !(target.type === 'http' && target.rateLimitPerSecond !== undefined);
}

/**
 * A publisher's `packs` predicate for these flows: the URLs of their step queues that carry packs. `urlOf` answers
 * undefined for a queue the caller does not know (a function knows only the queues it sends to).
 */
export function packsTo(flows: readonly FlowConfig[], urlOf: (flow: FlowConfig, queueId: string) => string | undefined): (queueUrl: string) => boolean {
  let urls: Set<string> | undefined;
  return (queueUrl) => {
    urls ??= new Set(
      flows.flatMap((flow) =>
        ['transform', 'resolve', ...flow.targets.map((t) => `deliver-${t.id}`)].filter((id) => packedQueue(flow, id)).flatMap((id) => urlOf(flow, id) ?? []),
      ),
    );
    return urls.has(queueUrl);
  };
}
