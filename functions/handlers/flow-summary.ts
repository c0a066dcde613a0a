import type { FlowPlan } from '../plan/plan';

/** Webhook URLs of a flow, by source, on the API's base URL. */
export function webhookUrls(plan: FlowPlan, baseUrl: string): { sourceId: string; urls: string[] }[] {
  return plan.functions.flatMap((fn) => (fn.trigger.type === 'http' && fn.sourceId ? [{ sourceId: fn.sourceId, urls: fn.trigger.routes.map((r) => baseUrl + r) }] : []));
}

/** A flow's line of `GET /flows`. */
export function flowSummary(plan: FlowPlan, baseUrl: string): Record<string, unknown> {
  const f = plan.flow;
  return {
    id: f.id,
    description: f.description,
    sources: f.sources.map((s) => ({ id: s.id, type: s.type })),
    targets: f.targets.map((x) => ({ id: x.id, type: x.type })),
    conflict: f.conflict.strategy,
    webhooks: webhookUrls(plan, baseUrl),
  };
}
