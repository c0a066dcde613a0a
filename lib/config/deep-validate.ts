import jsonata from 'jsonata';
import { validatePattern } from '../../functions/core/event-pattern';
import { piiLeaks, validateTransform } from '../../functions/core/transform/pipeline';
import { renameFills } from '../../functions/core/transform/raw-record';
import type { SynclineConfig } from '../../functions/config/schema';

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
      const m = /^(transform[^:]*):\s*(.*)$/s.exec(message);
      if (m) at(m[1], m[2]);
      else at('transform', message);
    }
    // A key field two renames fill takes its value from whichever of their fields a record has: no capture can read it.
    const renames = Object.entries(flow.transform.rename ?? {});
    for (const k of flow.key) {
      const into = renames.filter(([, to]) => renameFills(to, k));
      if (into.length > 1) {
        at(`transform.rename.${into[1]![0]}`, `key field "${k}" is filled by the renames of ${into.map(([from]) => `"${from}"`).join(' and ')}, so it depends on which a record holds: rename one field into it`);
      }
    }
    // A masked key must stay one key per record: only `hash` keeps values apart (redact, last4 and email merge
    // different records into one), and a mask over the object that holds a key field leaves no key to read.
    for (const [path, kind] of Object.entries(flow.transform.mask ?? {})) {
      const k = flow.key.find((f) => f === path || f.startsWith(`${path}.`));
      if (k === undefined || (k === path && kind === 'hash')) continue;
      at(
        `transform.mask.${path}`,
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
          jsonata(expression);
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
  return problems;
}
