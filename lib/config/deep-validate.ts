import jsonata from 'jsonata';
import { validatePattern } from '../../functions/core/event-pattern';
import { callsUnknown, pathStep, piiLeaks, validateTransform } from '../../functions/core/transform/pipeline';
import { unknownFunctions } from '../../functions/core/transform/jsonata-calls';
import { pathsOverlap, renameFills, within } from '../../functions/core/transform/raw-record';
import type { FlowConfig, SynclineConfig } from '../../functions/config/schema';
import { tableNameOf } from '../../functions/config/table-name';

/** An EventBridge rule's pattern: 2,048 characters by default, 4,096 at most (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html). */
export const DEFAULT_RULE_PATTERN_CHARS = 2048;
export const MAX_RULE_PATTERN_CHARS = 4096;

/**
 * Checks what the zod schema cannot: JSONata expressions, event patterns, JSON Schemas, and where declared PII goes.
 * Each problem names the flow and its JSON path.
 */
export function validateFlowsDeep(config: SynclineConfig): string[] {
  const problems: string[] = [];
  config.flows.forEach((flow, i) => {
    const at = (path: string, message: string) => problems.push(`flow "${flow.id}" at $.flows[${i}].${path}: ${message}`);
    for (const message of validateTransform(flow)) {
      const m = /^(transform(?:\.[A-Za-z_$][\w$]*|\[(?:"(?:[^"\\]|\\.)*"|\d+)\])*):\s*(.*)$/s.exec(message);
      if (m) at(m[1], m[2]);
      else at('transform', message);
    }
    // A key field two renames fill takes its value from whichever of their fields a record has: no capture can read it.
    const renames = Object.entries(flow.transform.rename ?? {});
    for (const k of flow.key) {
      const into = renames.filter(([, to]) => renameFills(to, k));
      if (into.length > 1) {
        at(`transform.rename${pathStep(into[1]![0])}`, `key field "${k}" is filled by the renames of ${into.map(([from]) => `"${from}"`).join(' and ')}, so it depends on which a record holds: rename one field into it`);
      }
    }
    keyFieldProblems(flow, at);
    // A masked key must stay one key per record: only `hash` keeps values apart (redact, last4 and email merge
    // different records into one), and a mask over the object that holds a key field leaves no key to read.
    for (const [path, kind] of Object.entries(flow.transform.mask ?? {})) {
      const k = flow.key.find((f) => within(f, path));
      if (k === undefined || (k === path && kind === 'hash')) continue;
      at(
        `transform.mask${pathStep(path)}`,
        k === path
          ? `masks key field "${k}" with "${kind}", which gives different records the same key (one would overwrite the other): use "hash"`
          : `masks the object that holds key field "${k}", so no record has a key to read: mask "${k}" itself with "hash"`,
      );
    }
    for (const leak of piiLeaks(flow)) {
      at(
        `targets[${leak.targetIndex}]`,
        `PII field "${leak.raw}" reaches target "${leak.targetId}" unmasked as "${leak.field}": ${leak.route}. ` +
          `Mask it (transform.mask["${leak.field}"]), exclude it, or list "${leak.field}" in the target's allowPii`,
      );
    }
    flow.targets.forEach((target, j) => {
      if (target.type !== 'http') return;
      const bodies: [string, string | undefined][] = [
        ['body', target.body],
        ['create.body', target.create?.body],
      ];
      for (const [name, expression] of bodies) {
        if (expression === undefined) continue;
        try {
          const unknown = unknownFunctions(jsonata(expression).ast());
          if (unknown.length > 0) at(`targets[${j}].${name}`, callsUnknown(unknown));
        } catch (err) {
          at(`targets[${j}].${name}`, `invalid JSONata expression: ${(err as { message?: string }).message ?? String(err)}`);
        }
      }
    });
    flow.sources.forEach((source, j) => {
      const patterns: [string, Record<string, unknown> | undefined][] = [
        ['deleteWhen', source.type === 'webhook' ? source.deleteWhen : undefined],
        ['filter', source.type === 'dynamodb-stream' ? source.filter : undefined],
        ['pattern', source.type === 'eventbridge' ? source.pattern : undefined],
      ];
      for (const [name, pattern] of patterns) {
        if (pattern) for (const p of validatePattern(pattern)) at(`sources[${j}].${name}`, p);
      }
      // An eventbridge pattern becomes the rule's own; the others are applied by syncline, whatever their size.
      const ruleChars = source.type === 'eventbridge' ? JSON.stringify(source.pattern).length : 0;
      if (ruleChars > MAX_RULE_PATTERN_CHARS) {
        at(`sources[${j}].pattern`, `${ruleChars} characters, over the ${MAX_RULE_PATTERN_CHARS} an EventBridge rule's pattern can have (2,048 unless the account's quota was raised); use prefix matchers or fewer values`);
      }
    });
  });
  problems.push(...twoWayLossProblems(config));
  return problems;
}

/**
 * Two flows that sync two DynamoDB tables both ways write each change back to the table it came from, once (the
 * echo test stops the second round). That write replaces the item: a mask, an exclude or an include in either flow
 * would put masked values, or an item without the dropped fields, over what was written at the source.
 */
function twoWayLossProblems(config: SynclineConfig): string[] {
  const problems: string[] = [];
  const reads = (flow: FlowConfig) => flow.sources.flatMap((s) => (s.type === 'dynamodb-stream' ? [tableNameOf(s.tableName ?? s.streamArn ?? '')] : []));
  const writes = (flow: FlowConfig) => flow.targets.flatMap((t) => (t.type === 'dynamodb' && t.tableName ? [tableNameOf(t.tableName)] : []));
  const lossy = (flow: FlowConfig) => {
    const t = flow.transform;
    return [
      ...(Object.keys(t.mask ?? {}).length > 0 ? ['mask'] : []),
      ...(t.detectPii === 'mask' ? ['detectPii "mask"'] : []),
      ...((t.exclude?.length ?? 0) > 0 ? ['exclude'] : []),
      ...(t.include !== undefined ? ['include'] : []),
    ];
  };
  config.flows.forEach((flow, i) => {
    const drops = lossy(flow);
    if (drops.length === 0) return;
    for (const to of writes(flow)) {
      for (const from of reads(flow)) {
        // The table it reads itself, or one another flow writes back to it.
        const back = to === from ? flow : config.flows.find((other) => other !== flow && reads(other).includes(to) && writes(other).includes(from));
        if (!back) continue;
        const route = back === flow ? `it writes "${to}", the table it reads` : `it writes "${to}", and flow "${back.id}" writes that back to "${from}", where "${flow.id}" reads`;
        problems.push(
          `flow "${flow.id}" at $.flows[${i}].transform: its ${drops.join(', ')} would reach table "${from}": ${route}, replacing the item written there. ` +
            `Flows that sync two DynamoDB tables both ways must carry records whole: drop the ${drops.join(' and ')}, or sync one way`,
        );
      }
    }
  });
  return problems;
}

/**
 * Transforms that leave a flow's records without their own key: `set` gives every record the same one (each would
 * overwrite the last), and an `exclude`, an `include` without it or a rename away leaves none (each would be
 * quarantined). A rename or `compute` into the key field fills it again.
 */
function keyFieldProblems(flow: FlowConfig, at: (path: string, message: string) => void): void {
  const t = flow.transform;
  const renames = Object.entries(t.rename ?? {});
  for (const k of flow.key) {
    const set = Object.keys(t.set ?? {}).find((p) => within(k, p));
    if (set !== undefined) at(`transform.set${pathStep(set)}`, `sets key field "${k}" to one value for every record, so all would have one key and each would overwrite the last: derive it with compute, or leave it out of set`);
    if (renames.some(([, to]) => renameFills(to, k)) || Object.keys(t.compute ?? {}).some((c) => within(k, c))) continue;
    const excluded = (t.exclude ?? []).findIndex((p) => within(k, p));
    const away = renames.find(([from]) => within(k, from));
    if (excluded >= 0) at(`transform.exclude[${excluded}]`, `removes key field "${k}", so no record would have a key and each would be quarantined: keep "${k}"`);
    else if (t.include && !t.include.some((p) => pathsOverlap(k, p))) at('transform.include', `leaves out key field "${k}", so no record would have a key and each would be quarantined: include "${k}"`);
    else if (away) at(`transform.rename${pathStep(away[0])}`, `moves key field "${k}" to "${away[1]}", so no record would have "${k}" to key it by: key the flow by the field's new name`);
  }
}
