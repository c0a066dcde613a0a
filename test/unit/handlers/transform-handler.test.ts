import { beforeEach, describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { compileTransform } from '../../../functions/core/transform/pipeline';
import { createTransformHandler } from '../../../functions/handlers/transform-handler';
import { replayable } from '../../../functions/handlers/quarantine-replay';
import { MAX_RECEIVE_COUNT } from '../../../functions/plan/plan';
import { FakeClock, FakePublisher, InMemoryAuditLog, InMemoryQuarantineStore, RecordingLogger, RecordingMetrics, sqsEvent } from '../../fixtures/fakes';
import { capturedContact, contactsFlow, HASH_KEY } from '../../fixtures/flows';
import { fakeStepContext } from '../../fixtures/step-context';

const RESOLVE = 'https://sqs.local/contacts-resolve';

const envelope = capturedContact;

describe('transform handler', () => {
  let publisher: FakePublisher;
  let audit: InMemoryAuditLog;
  let quarantine: InMemoryQuarantineStore;
  let logger: RecordingLogger;
  let metrics: RecordingMetrics;
  let handler: ReturnType<typeof createTransformHandler>;

  beforeEach(() => {
    const step = fakeStepContext();
    ({ publisher, audit, quarantine, logger, metrics } = step);
    handler = createTransformHandler({
      flow: contactsFlow,
      transformer: async () => compileTransform(contactsFlow, { hashKey: HASH_KEY }),
      publisher,
      resolveQueueUrl: RESOLVE,
      audit,
      quarantine,
      clock: step.clock,
      logger,
      metrics,
    });
  });

  it('sends passed records with their key, masked data and a transform step to the resolve queue', async () => {
    // Prepare
    const event = sqsEvent([
      envelope(0, { id: 'c1', status: 'active', email: 'ada@example.com', event: 'contact.updated' }),
      envelope(1, { id: 'c2', status: 'active' }, 'delete'),
    ]);

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const sent = publisher.bodies<ChangeEnvelope>(RESOLVE);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ key: 'c1', op: 'upsert', data: { id: 'c1', status: 'active', email: '****@example.com' } });
    expect(sent[0]!.data).not.toHaveProperty('event');
    expect(sent[0]!.lineage.map((l) => `${l.step}/${l.outcome}`)).toEqual(['capture/captured', 'transform/passed']);
    expect(sent[1]).toMatchObject({ key: 'c2', op: 'delete' });
    expect(sent[1]).not.toHaveProperty('data');
    expect(JSON.stringify(logger.lines)).not.toContain('ada@');
  });

  it('sends the old image (`before`) on transformed and masked as the record is, and none that the transform would not pass', async () => {
    // Prepare: a change with its old values (a stream's old image), raw as the source had them.
    const withBefore = (n: number, before: Record<string, unknown>) => ({ ...envelope(n, { id: `c${n}`, status: 'active', email: 'new@example.com' }), before });
    const event = sqsEvent([withBefore(0, { id: 'c0', status: 'active', email: 'old@example.com', event: 'x' }), withBefore(1, { id: 'c1', status: 'test', email: 'gone@example.com' })]);

    // Act
    await handler(event);

    // Assess: masked like the record; an old image the filter drops is left out rather than sent raw.
    const sent = publisher.bodies<ChangeEnvelope>(RESOLVE);
    expect(sent[0]!.before).toEqual({ id: 'c0', status: 'active', email: '****@example.com' });
    expect(sent[1]).not.toHaveProperty('before');
    expect(JSON.stringify(sent)).not.toMatch(/old@|gone@/);
  });

  it('audits filtered records with the pattern in the reason', async () => {
    // Act
    const res = await handler(sqsEvent([envelope(0, { id: 'c1', status: 'test' })]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.calls).toBe(0);
    expect(audit.entries).toMatchObject([{ outcome: 'filtered', key: 'c1', step: 'transform', eventId: envelope(0, {}).id }]);
    expect(audit.entries[0]!.reason).toContain('{"status":[{"anything-but":"test"}]}');
    expect(metrics.counts.Filtered).toBe(1);
  });

  it('quarantines a record without its key, masked, and audits it', async () => {
    // Act
    const res = await handler(sqsEvent([envelope(0, { status: 'active', email: 'ada@example.com' })]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const [item] = (await quarantine.list('contacts')).items;
    expect(item).toMatchObject({ id: envelope(0, {}).id, source: 'crm', position: 'msg#0' });
    expect(JSON.stringify(item)).not.toContain('ada@example.com');
    expect(item!.envelope).not.toHaveProperty('data');
    expect(audit.outcomes()).toEqual(['quarantined']);
    expect(metrics.counts.Quarantined).toBe(1);
  });

  it('quarantines an unparseable message instead of retrying it, keeping none of its body', async () => {
    // Act
    const res = await handler(sqsEvent(['{"v":1,"secret":"ada@example.com"', { v: 2, hello: 'world' }]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const items = (await quarantine.list('contacts')).items;
    expect(items).toHaveLength(2);
    expect(items.every((i) => i.reason === 'message is not a valid change envelope')).toBe(true);
    expect(JSON.stringify(items)).not.toContain('ada@example.com');
  });

  it('keeps the record of an envelope it cannot take, masked as a capture quarantine is, and names its source; replay leaves it', async () => {
    // Prepare: an envelope of the wrong shape (an empty table name) around a real record.
    const bad = { ...envelope(9, { id: 'c-9', email: 'ada@example.com', name: 'Ada' }), tbl: '' };

    // Act
    const res = await handler(sqsEvent([bad]));

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    const [item] = (await quarantine.list('contacts')).items;
    expect(item).toMatchObject({ reason: 'message is not a valid change envelope', record: { id: 'c-9', name: 'Ada' }, errors: expect.arrayContaining(['sent as from source "crm"']) });
    expect(JSON.stringify(item)).not.toContain('ada@example.com');
    // Its envelope could not be read, so quarantine replay leaves it (it would have to invent one).
    expect(replayable(item!)).toBe(false);
  });

  it('fails only the message whose transform throws, and sends its batch-mates on', async () => {
    // Prepare: a transform that throws on one input (a fault no check foresaw)
    const real = compileTransform(contactsFlow, { hashKey: HASH_KEY });
    const throwing = createTransformHandler({
      flow: contactsFlow,
      transformer: { apply: (data: Record<string, unknown>, op: 'upsert' | 'delete') => (data.id === 'boom' ? Promise.reject(new Error('unforeseen input')) : real.apply(data, op)) },
      publisher,
      resolveQueueUrl: RESOLVE,
      audit,
      quarantine,
      clock: new FakeClock(),
    });
    const event = sqsEvent([envelope(0, { id: 'c1', status: 'active' }), envelope(1, { id: 'boom', status: 'active' }), envelope(2, { id: 'c3', status: 'active' })]);

    // Act
    const res = await throwing(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE).map((e) => e.key).sort()).toEqual(['c1', 'c3']);
  });

  it('fails only the message whose send failed after retries', async () => {
    // Prepare
    const event = sqsEvent([envelope(0, { id: 'c1', status: 'active' }), envelope(1, { id: 'poison', status: 'active' }), envelope(2, { id: 'c3', status: 'test' })]);
    publisher.failWhen = (m) => m.body.includes('"poison"');

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(publisher.bodies<ChangeEnvelope>(RESOLVE).map((e) => e.key)).toEqual(['c1']);
    expect(audit.outcomes()).toEqual(['filtered']);
  });

  it('audits a record as given up when its send fails on the last receive before the DLQ, and only then', async () => {
    // Prepare: sends of `poison` always fail; its first message has retries left, the second is on its last receive.
    publisher.failWhen = (m) => m.body.includes('"poison"');
    const early = sqsEvent([envelope(1, { id: 'poison', status: 'active' })], 'early');
    early.Records[0]!.attributes.ApproximateReceiveCount = '2';
    const last = sqsEvent([envelope(1, { id: 'poison', status: 'active' }), envelope(0, { id: 'c1', status: 'active' })]);
    last.Records[0]!.attributes.ApproximateReceiveCount = String(MAX_RECEIVE_COUNT);

    // Act
    const first = await handler(early);
    const res = await handler(last);

    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'early0' }]);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(audit.entries.filter((e) => e.outcome === 'failed')).toMatchObject([{ key: 'poison', step: 'transform', detail: { attempts: MAX_RECEIVE_COUNT, parked: 'dlq' } }]);
    expect(audit.entries.find((e) => e.outcome === 'failed')!.reason).toMatch(/^gave up after 5 attempts, the message goes to the DLQ: send to the resolve queue failed/);
  });

  it('fails the messages whose audit write threw, and nothing else', async () => {
    // Prepare
    audit.failWrites = 1;
    const event = sqsEvent([envelope(0, { id: 'c1', status: 'active' }), envelope(1, { id: 'c2', status: 'test' })]);

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(publisher.bodies(RESOLVE)).toHaveLength(1);
  });

  it('starts the lineage of a record whose key comes from a rename: a capture entry under the derived key', async () => {
    // Prepare: the key field `id` is produced by renaming `contact_id`, so capture could not know the key.
    const renamed = { ...contactsFlow, transform: { ...contactsFlow.transform, rename: { ...contactsFlow.transform.rename, contact_id: 'id' } } };
    const renaming = createTransformHandler({
      flow: renamed,
      transformer: compileTransform(renamed, { hashKey: HASH_KEY }),
      publisher,
      resolveQueueUrl: RESOLVE,
      audit,
      quarantine,
      clock: new FakeClock(),
    });
    const env = envelope(7, { contact_id: 'c7', status: 'active' });

    // Act
    await renaming(sqsEvent([env]));

    // Assess
    expect(audit.entries).toContainEqual(
      expect.objectContaining({ key: 'c7', step: 'capture', outcome: 'captured', at: 1, eventId: env.id, source: 'crm' }),
    );
  });

  it('warns once per batch about unmasked PII with field names only, never values', async () => {
    // Prepare: detectPii "flag" reports the unmasked phone numbers without masking them.
    const flagging = { ...contactsFlow, transform: { ...contactsFlow.transform, detectPii: 'flag' as const } };
    const flagged = createTransformHandler({
      flow: flagging,
      transformer: compileTransform(flagging, { hashKey: HASH_KEY }),
      publisher,
      resolveQueueUrl: RESOLVE,
      audit,
      quarantine,
      clock: new FakeClock(),
      logger,
    });

    // Act
    await flagged(sqsEvent([envelope(1, { id: 'c1', status: 'active', phone: '+1 (415) 555-0100' }), envelope(2, { id: 'c2', status: 'active', phone: '+44 20 7946 0958' })]));

    // Assess
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.attributes).toMatchObject({ records: 2, fields: ['phone'] });
    expect(JSON.stringify(warnings)).not.toContain('555-0100');
    // The envelopes carry the flagged field names on to resolve's audit entry (status lists the undeclared ones).
    expect(publisher.bodies(RESOLVE).map((e) => [e.key, e.piiFlagged])).toEqual([
      ['c1', ['phone']],
      ['c2', ['phone']],
    ]);
  });
});
