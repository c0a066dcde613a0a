import { safeErrorText } from '../core/error-text';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FlowConfig } from '../config/schema';
import { keyProblem, truncateScope, type ChangeEnvelope, type TruncateMessage } from '../core/envelope';
import { clockOf, mergeChanges, type MergeResult } from '../core/merge';
import {
  StateTooLargeError,
  VersionConflictError,
  type AuditEntry,
  type AuditLog,
  type Clock,
  type ConflictStore,
  type EventPublisher,
  type LogPort,
  type MetricsPort,
  type Publisher,
  type QuarantineSink,
  type StateStore,
  type StoredState,
  type TruncateScopeIndex,
  telemetryOf,
} from '../ports';
import { keepsPiiUnmasked } from '../plan/flow-traits';
import { conflictOpenedEvent } from './conflict-review';
import { auditableOwned, withCapture } from './audit-policy';
import { changeTs, decisionEntries, keepRecent, madeCurrent } from './resolve-audit';
import { isTruncate, parseStepMessage, type DeliveryMessage } from './step-messages';
import { addLateTruncateDeletes, scopedChanges, truncateDelete } from './truncate-marks';
import { runSqsBatch, type SqsBatch } from './sqs-batch';
import { readStates } from './batch-states';
import { auditGivenUp, type FailedChange } from './given-up';
import { addChange, type ChangeGroup } from './change-group';
import { dropEchoes } from './echoes';
import { quarantineOversized, type Oversized } from './resolve-oversized';

/** Dependencies of a flow's resolve function. */
export interface ResolveHandlerDeps {
  readonly flow: FlowConfig;
  readonly stateStore: StateStore;
  readonly audit: AuditLog;
  readonly conflicts: ConflictStore;
  /** Where a change goes whose merged record would not fit its state item. */
  readonly quarantine: QuarantineSink;
  readonly publisher: Publisher;
  /** Where a `syncline.ConflictOpened` event goes for each newly opened conflict (none when absent). */
  readonly events?: EventPublisher;
  /** Delivery queue URL of each target, by target id. */
  readonly deliverQueueUrls: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
  /**
   * For flows with a source whose `onTruncate` is `delete`: the index of keys by source table, and this step's own
   * queue, where a truncate's deletes and its continuation go.
   */
  readonly truncates?: { readonly index: TruncateScopeIndex; readonly resolveQueueUrl: string; /** @default 200 */ readonly pageSize?: number };
}

export type ResolveHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** What a batch held (its key groups as read, before any is set aside) and which changes got an outcome (merged, or an echo). */
interface BatchSeen {
  readonly groups: ChangeGroup[];
  readonly settled: Set<string>;
  /** Truncates to expand: one given up is audited under the truncate's id, as its capture was (no key). */
  readonly truncates: FailedChange[];
}

interface Resolved {
  readonly group: ChangeGroup;
  readonly result: MergeResult;
  /** State after this batch (undefined when nothing was ever stored and nothing had to be). */
  readonly state?: StoredState;
  /** Targets to notify. */
  readonly targets: readonly string[];
  /** The resolve entry of each change (those the state item keeps marked so). */
  readonly entries: readonly AuditEntry[];
}

/** Merge-and-write attempts per key under concurrent writers. */
const MERGE_ATTEMPTS = 5;

export function createResolveHandler(deps: ResolveHandlerDeps): ResolveHandler {
  const { flow, stateStore, publisher } = deps;
  const { clock, logger, metrics } = telemetryOf(deps);
  const targetIds = flow.targets.map((t) => t.id);
  for (const t of targetIds) if (!deps.deliverQueueUrls[t]) throw new Error(`no delivery queue URL for target "${t}" of flow "${flow.id}"`);
  // A DynamoDB target records an upsert on the item, not in `delivered`: only a change behind the current version
  // (its send may have been lost) notifies it again, not every superseded change.
  const markedOnItem = new Set(flow.targets.filter((t) => t.type === 'dynamodb').map((t) => t.id));
  const withConflictValues = !keepsPiiUnmasked(flow);

  return (event) =>
    runSqsBatch(event.Records, logger, async (batch) => {
      const seen: BatchSeen = { groups: [], settled: new Set(), truncates: [] };
      try {
        await resolveBatch(event, batch, seen);
      } finally {
        // Changes not merged nor echoed, each by its own message (a retried message of the key is not given up).
        const unsettled = seen.groups.flatMap((g) => g.envelopes.map((env, i) => ({ messageId: g.messageIds[i]!, key: g.key, source: env.source, eventId: env.id, env })));
        await auditGivenUp({ flow, audit: deps.audit, logger }, 'resolve', batch, [...unsettled.filter((c) => !seen.settled.has(c.eventId)), ...seen.truncates], clock.now());
      }
    });

  /** Resolves a batch; `seen` gathers its key groups and the changes that got an outcome, for the given-up audit. */
  async function resolveBatch(event: SQSEvent, batch: SqsBatch, seen: BatchSeen): Promise<void> {
    const groups = new Map<string, ChangeGroup>();
    const truncates: { messageId: string; message: TruncateMessage }[] = [];
    for (const record of event.Records) {
      const parsed = parseStepMessage(record.body);
      if (parsed.ok && isTruncate(parsed.value)) {
        if (parsed.value.flow === flow.id) {
          truncates.push({ messageId: record.messageId, message: parsed.value });
          seen.truncates.push({ messageId: record.messageId, key: '', source: parsed.value.source, eventId: parsed.value.id });
        }
        else batch.fail([record.messageId], `invalid truncate: of flow "${parsed.value.flow}"`);
        continue;
      }
      const value = parsed.ok ? (parsed.value as ChangeEnvelope) : undefined;
      const problem = !parsed.ok
        ? parsed.errors.join('; ')
        : value!.flow !== flow.id
          ? `envelope of flow "${value!.flow}"`
          : value!.key === ''
            ? 'envelope has no key'
            : keyProblem(value!.key, flow.id);
      if (problem !== undefined || !value) {
        batch.fail([record.messageId], `invalid envelope: ${problem}`);
        continue;
      }
      addChange(groups, value, record.messageId);
    }
    for (const t of truncates) await batch.attempt([t.messageId], 'truncate expansion failed', () => expandTruncate(t.message));
    seen.groups.push(...groups.values());
    if (groups.size === 0) return;
    if (event.Records.length === 1) logger.setCorrelationId?.([...groups.values()][0]!.envelopes[0]!.id);

    const stored = await readStates(batch, stateStore, flow.id, [...groups.values()]);
    if (!stored) return;
    const truncateIndex = deps.truncates?.index;
    if (truncateIndex) {
      const scoped = scopedChanges(groups);
      await batch.attempt(new Set(scoped.map((c) => c.messageId)), 'truncate marks could not be read', () => addLateTruncateDeletes(flow, truncateIndex, groups, scoped, stored, clock.now()));
    }
    for (const [key, g] of groups) if (g.messageIds.some((id) => batch.isFailed(id))) groups.delete(key);

    const now = clock.now();
    const echoes = dropEchoes(flow.id, groups, stored);
    for (const e of echoes) seen.settled.add(e.env.id);
    if (echoes.length > 0) {
      const entries = echoes.map(({ key, env, state, messageId }) => ({ messageId, entry: withCapture(flow, {
        flow: flow.id,
        key,
        step: 'resolve',
        at: now,
        source: env.source,
        eventId: env.id,
        outcome: 'echo',
        reason: `syncline's own write (flow ${env.origin!.flow}, version ${env.origin!.version}) came back unchanged`,
        version: state.version,
        detail: { origin: env.origin },
      } satisfies AuditEntry, env) }));
      // Each echo's entry is owned by its own message: a failed write retries that message alone.
      const kept = auditableOwned(flow, entries.map(({ entry, messageId }) => ({ entry, owner: [messageId] })));
      if (kept.length > 0) await batch.attemptItems(kept.map((e) => e.owner), 'audit write failed', () => deps.audit.write(kept.map((e) => e.entry)));
      metrics.count('Echo', echoes.length);
    }
    const outcomes = (
      await Promise.all(
        [...groups.values()].filter((g) => g.envelopes.length > 0).map((g) =>
          batch.attempt(g.messageIds, `resolve of key failed`, () => resolveGroup(g, stored.get(g.key), now)),
        ),
      )
    ).flatMap((r) => r ?? []);
    const resolved = outcomes.filter((r): r is Resolved => 'result' in r);
    for (const r of resolved) for (const env of r.group.envelopes) seen.settled.add(env.id);
    const oversized = outcomes.filter((r): r is Oversized => 'reason' in r);
    if (oversized.length > 0) {
      metrics.count('Quarantined', await quarantineOversized(deps, batch, oversized, now));
      // Settled once quarantined: a change whose quarantine write failed is retried, and audited if it gives up.
      for (const o of oversized) o.envelopes.forEach((env, i) => !batch.isFailed(o.messageIds[i]!) && seen.settled.add(env.id));
    }

    await record(batch, resolved, now);
    await notify(batch, resolved, now);

    const ok = resolved.filter((r) => !r.group.messageIds.some((id) => batch.isFailed(id)));
    const count = (o: string) => ok.reduce((n, r) => n + r.result.decisions.filter((d) => d.outcome === o).length, 0);
    metrics.count('Resolved', count('won'));
    metrics.count('Superseded', count('superseded'));
    metrics.count('Conflicts', count('conflict'));
    logger.info('resolve batch done', { flow: flow.id, messages: event.Records.length, keys: groups.size, won: count('won'), superseded: count('superseded'), conflicts: count('conflict') });
  }

  /**
   * One page of a truncated table's keys to delete envelopes on this step's queue, plus the truncate again with the
   * page's cursor when more keys follow. The deletes carry the truncate's clock and position, so a change made after
   * the truncate still wins; their ids come from the truncate and the key, so a retried page merges as a repeat.
   */
  async function expandTruncate(message: TruncateMessage): Promise<void> {
    if (!deps.truncates) {
      logger.warn('truncate not expanded: no source of this flow deletes on truncate now', { flow: flow.id, source: message.source, table: message.table });
      return;
    }
    const { index, resolveQueueUrl, pageSize = 200 } = deps.truncates;
    const scope = truncateScope(flow.id, message.source, message.table);
    const mark = { id: message.id, source: message.source, ts: message.ts, seq: message.seq, ...(message.pos !== undefined ? { pos: message.pos } : {}), at: message.at };
    // Marked before the keys are listed: a change of the table that reads the marks from now on sees the truncate
    // itself. (A change written just before may still be missing from the index, which is read eventually consistent.)
    if (message.cursor === undefined) await index.markTruncated(flow.id, scope, mark);
    const page = await index.keysInTruncateScope(flow.id, scope, pageSize, message.cursor);
    const at = clock.now();
    const deletes = page.keys.map((key) => truncateDelete(flow.id, mark, key, at));
    const next = page.cursor ? [{ id: `${message.id}-next`, body: JSON.stringify({ ...message, cursor: page.cursor }) }] : [];
    const messages = [...deletes.map((d) => ({ id: d.id, body: JSON.stringify(d) })), ...next];
    if (messages.length > 0) {
      const { failed } = await publisher.send(resolveQueueUrl, messages);
      if (failed.length > 0) throw new Error(`${failed.length} of ${messages.length} truncate messages could not be sent to the resolve queue`);
    }
    logger.info('truncate expanded', { flow: flow.id, source: message.source, table: message.table, keys: deletes.length, more: next.length > 0 });
  }

  /**
   * A key's changes merged together; when together they make a record too large to store, each merged alone in
   * turn, so only the changes that do not fit are set aside (a small change in the same batch still goes through).
   */
  async function resolveGroup(group: ChangeGroup, initial: StoredState | undefined, now: number): Promise<(Resolved | Oversized)[]> {
    const together = await resolveKey(group, initial, now);
    if ('result' in together || group.envelopes.length === 1) return [together];
    // A merge works on the doc it is given in place: each next one starts from the state as stored, which a refused
    // merge answers with (read again, never merged into).
    const out: (Resolved | Oversized)[] = [];
    let current = together.state;
    for (const [i, env] of group.envelopes.entries()) {
      const one = await resolveKey({ key: group.key, envelopes: [env], messageIds: [group.messageIds[i]!] }, current, now);
      current = one.state;
      out.push(one);
    }
    return out;
  }

  /**
   * Merges a key's changes into its state and writes it under the version condition, re-reading on conflict. A
   * merged record too large to store is answered as such, for quarantine, with the state left as it was.
   */
  async function resolveKey(group: ChangeGroup, initial: StoredState | undefined, now: number): Promise<Resolved | Oversized> {
    let current = initial;
    for (let attempt = 1; attempt <= MERGE_ATTEMPTS; attempt++) {
      // The doc was read for this merge (a conflict reads it again): merged into in place, not copied.
      const result = mergeChanges(flow, current?.doc, group.envelopes, { owned: true });
      if (!result.docChanged && !result.changed) {
        // Already merged (a redelivery): re-notify targets that have not recorded this version yet.
        const targets = current ? targetIds.filter((t) => (current!.delivered[t]?.version ?? 0) < current!.version && (!markedOnItem.has(t) || madeCurrent(current!, group))) : [];
        return { group, result, state: current, targets, entries: decisionEntries(flow, group.key, group.envelopes, result, current?.version, now) };
      }
      // The key stays listed under the table of its last change from a truncate-deleting source, until it is deleted.
      const scoped = group.envelopes.findLast((e) => e.tbl !== undefined);
      const scope = result.view.deleted ? undefined : scoped ? truncateScope(flow.id, scoped.source, scoped.tbl!) : current?.truncateScope;
      const scopeClock = scope === undefined ? undefined : scoped ? clockOf(scoped) : current?.truncateScopeClock;
      const version = (current?.version ?? 0) + 1;
      // The state item keeps the key's latest decisions for lineage; the ones it lets go are written out first.
      const kept = keepRecent(flow, current, decisionEntries(flow, group.key, group.envelopes, result, version, now));
      if (kept.archived.length > 0) await deps.audit.archive(kept.archived);
      const next: StoredState = {
        flow: flow.id,
        key: group.key,
        version,
        doc: result.doc,
        view: result.view,
        delivered: current?.delivered ?? {},
        updatedAt: now,
        ...(scope !== undefined ? { truncateScope: scope } : {}),
        ...(scopeClock !== undefined ? { truncateScopeClock: scopeClock } : {}),
        ...(kept.recent.length > 0 ? { recent: kept.recent } : {}),
      };
      try {
        await stateStore.put(next, current?.version ?? 0);
        return { group, result, state: next, targets: result.changed ? targetIds : [], entries: kept.entries };
      } catch (err) {
        if (err instanceof StateTooLargeError) {
          // Measured against the state as read: if another writer changed it since (it may have shrunk), merge again.
          const latest = await stateStore.get(flow.id, group.key);
          if ((latest?.version ?? 0) !== (current?.version ?? 0)) {
            current = latest;
            continue;
          }
          logger.warn('merged record too large for its state item', { flow: flow.id, key: group.key, bytes: err.bytes, eventIds: group.envelopes.map((e) => e.id) });
          return { ...group, reason: err.message, state: latest };
        }
        if (!(err instanceof VersionConflictError)) throw err;
        logger.debug('version conflict, re-merging', { flow: flow.id, key: group.key, attempt });
        current = await stateStore.get(flow.id, group.key);
      }
    }
    throw new Error(`state of ${flow.id}/${group.key} kept changing: gave up after ${MERGE_ATTEMPTS} attempts`);
  }

  /** Audit entries for every decision (one write) and open conflicts. */
  async function record(batch: SqsBatch, resolved: readonly Resolved[], now: number): Promise<void> {
    const entries: { entry: AuditEntry; owner: readonly string[] }[] = [];
    for (const r of resolved) {
      for (const entry of r.entries) {
        entries.push({ entry, owner: r.group.messageIds });
        // A change that won but left the record as it was (a delete of a deleted key) is delivered nowhere:
        // say so per target, so every won change ends in a delivery entry and the accounting closes.
        if (entry.outcome === 'won' && r.targets.length === 0 && r.state) {
          for (const target of targetIds) {
            const { heldBy: _, detail: __, ...skipped } = entry;
            entries.push({
              entry: { ...skipped, step: 'deliver', outcome: 'skipped', reason: 'the change left the record as it was: nothing to deliver', target },
              owner: r.group.messageIds,
            });
          }
        }
      }
    }
    const kept = auditableOwned(flow, entries);
    if (kept.length > 0) await batch.attemptItems(kept.map((e) => e.owner), 'audit write failed', () => deps.audit.write(kept.map((e) => e.entry)));
    const open = resolved.filter((r) => r.result.conflicts.length > 0);
    if (open.length > 0) {
      // Per key: a conflict that cannot be stored fails its own key's messages, not its batch-mates'.
      const fresh = (
        await Promise.all(
          open.map(async (r) => {
            const created = await batch.attempt(r.group.messageIds, 'conflict write failed', () => deps.conflicts.open(r.result.conflicts, now));
            return created ? r.result.conflicts.filter((c, i) => created.includes(c.id) && r.result.conflicts.findIndex((x) => x.id === c.id) === i) : [];
          }),
        )
      ).flat();
      const events = deps.events;
      if (events && fresh.length > 0) {
        // A notification only: the conflict is stored and listed already, so a failed put does not fail the batch
        // (a retry would not announce it again, as it is no longer new).
        await events.put(fresh.map((c) => conflictOpenedEvent(c, now, withConflictValues))).catch((err: unknown) =>
          logger.error('ConflictOpened events not put', { flow: flow.id, conflicts: fresh.map((c) => c.id), error: safeErrorText(err) }),
        );
      }
    }
  }

  /** One SendMessageBatch per target queue with the resolved change of each key. */
  async function notify(batch: SqsBatch, resolved: readonly Resolved[], now: number): Promise<void> {
    await Promise.all(
      targetIds.map(async (targetId) => {
        // A key whose audit could not be written is retried whole; its retry notifies the targets then.
        const items = resolved.filter((r) => r.state && r.targets.includes(targetId) && !r.group.messageIds.some((id) => batch.isFailed(id)));
        if (items.length === 0) return;
        const byId = new Map(items.map((r, i) => [String(i), r]));
        const messages = items.map((r, i) => {
          const body: DeliveryMessage = {
            v: 1,
            flow: flow.id,
            key: r.group.key,
            version: r.state!.version,
            ts: changeTs(r.state!.view, r.group.envelopes, now),
            eventIds: [...new Set(r.group.envelopes.map((e) => e.id))],
          };
          return { id: String(i), body: JSON.stringify(body) };
        });
        const ids = items.flatMap((r) => r.group.messageIds);
        const sent = await batch.attempt(ids, `send to the delivery queue of "${targetId}" failed`, () =>
          publisher.send(deps.deliverQueueUrls[targetId]!, messages),
        );
        if (sent) batch.fail(sent.failed.flatMap((id) => byId.get(id)?.group.messageIds ?? []), `send to the delivery queue of "${targetId}" failed after retries`);
      }),
    );
  }
}
