import { describe, expect, it } from 'vitest';
import { arrivalSeq, eventId, type ChangeEnvelope } from '../../../functions/core/envelope';
import { createSqsCaptureHandler } from '../../../functions/handlers/sqs-capture-handler';
import { sqsEvent } from '../../fixtures/fakes';
import { fakeCaptureDeps, fakeStepContext } from '../../fixtures/step-context';
import { replicaFlow } from '../../fixtures/streams';
import { flowSchema } from '../../../functions/config/schema';
import { parseConfig } from '../../../lib/config/load';

const QUEUE = 'https://sqs.local/people-transform';

function setup(sourceId = 'inbox') {
  const step = fakeStepContext();
  const handler = createSqsCaptureHandler(fakeCaptureDeps(step, replicaFlow, sourceId, QUEUE));
  const { publisher, audit, quarantine, clock } = step;
  return { handler, publisher, audit, quarantine, clock };
}

const withSent = (event: ReturnType<typeof sqsEvent>, sent: number) => {
  for (const r of event.Records) r.attributes.SentTimestamp = String(sent);
  return event;
};

describe('sqs capture handler', () => {
  it('captures a record or an array of records per message, with ids from the message id and index and ts = SentTimestamp', async () => {
    // Prepare
    const { handler, publisher } = setup();
    const event = withSent(sqsEvent([{ id: 'a', name: 'A' }, [{ id: 'b' }, { id: 'c' }]]), 1768000000000);
    // Act
    const res = await handler(event);
    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.data?.id, e.seq, e.ts])).toEqual([
      ['a', '0001768000000000#m0#000', 1768000000000],
      ['b', '0001768000000000#m1#000', 1768000000000],
      ['c', '0001768000000000#m1#001', 1768000000000],
    ]);
    expect(sent[2]!.id).toBe(eventId('people', 'inbox', 'm1', 1));
    expect(sent.every((e) => e.op === 'upsert' && e.source === 'inbox' && e.flow === 'people')).toBe(true);
  });

  it('quarantines unparseable bodies with the message id as position and does not retry them', async () => {
    const { handler, publisher, quarantine, audit } = setup();
    const res = await handler(sqsEvent(['{not json', '42', [{ id: 'ok' }, 'nope'], { id: 'fine' }]));
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.id)).toEqual(['ok', 'fine']);
    const items = (await quarantine.list('people')).items.map((i) => [i.position, i.reason]).sort();
    expect(items).toEqual([
      ['m0', 'body is not valid JSON: Quoted object key expected but got another character at position 1'],
      ['m1', 'body is a number, not a record or an array of records'],
      ['m2#001', 'body[1] is a string, not an object'],
    ]);
    expect(audit.outcomes().filter((o) => o === 'quarantined')).toHaveLength(3);
  });

  it('quarantines a body nested too deep and records with numbers a double cannot hold, keeping their digits, while batch-mates go through', async () => {
    // Prepare: raw bodies, as a sender writes them.
    const { handler, publisher, quarantine } = setup();
    const deep = `{"id":"deep","x":${'['.repeat(5000)}1${']'.repeat(5000)}}`;
    const bodies = [deep, '{"id":"big","n":12345678901234567890,"m":1e309}', '{"id":"inf","n":1e309}', '{"id":"tiny","n":1e-400}', '{"id":"long","n":0.12345678901234567890123}', '1e400', '{"id":"ok","n":1.5}'];
    const event = sqsEvent(bodies.map(() => ({ id: 'x' })));
    event.Records.forEach((r, i) => (r.body = bodies[i]!));

    // Act
    const res = await handler(event);

    // Assess
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data)).toEqual([{ id: 'ok', n: 1.5 }]);
    const items = (await quarantine.list('people')).items.sort((a, b) => String(a.position).localeCompare(String(b.position)));
    expect(items.map((i) => [i.position, i.reason.replace(/: number at .*$/, ': number')])).toEqual([
      ['m0', 'body nests 5001 levels deep; the limit is 64'],
      ['m1#000', 'record cannot be carried exactly: number'],
      ['m2#000', 'record cannot be carried exactly: number'],
      ['m3#000', 'record cannot be carried exactly: number'],
      ['m4#000', 'record cannot be carried exactly: number'],
      ['m5', 'body is a number, not a record or an array of records'],
    ]);
    expect(items[1]!.record).toEqual({ id: 'big', n: '12345678901234567890', m: '1e309' });
    // Every value that cannot be carried is listed, as a webhook's quarantine lists them.
    expect(items[1]!.errors).toEqual([expect.stringMatching(/^number at \$\.n /), expect.stringMatching(/^number at \$\.m /)]);
  });

  it('unwraps an SNS notification (a subscription without raw message delivery): the record is its Message, known by its MessageId and Timestamp', async () => {
    // Prepare: the notification as SNS sends it to a queue (https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html),
    // delivered twice (SNS delivers at least once), and one whose Message is plain text.
    const { handler, publisher, quarantine } = setup();
    const notification = (message: string) => ({
      Type: 'Notification',
      MessageId: 'dc1e94d9-56c5-5e96-808d-cc7f68faa162',
      TopicArn: 'arn:aws:sns:us-east-2:111122223333:ExampleTopic1',
      Message: message,
      Timestamp: '2026-03-01T10:00:00.250Z',
      SignatureVersion: '1',
      Signature: 'EXAMPLEnTrFPa3...',
      SigningCertURL: 'https://sns.us-east-2.amazonaws.com/SimpleNotificationService.pem',
      UnsubscribeURL: 'https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe',
    });
    const record = JSON.stringify({ id: 'a', name: 'A' });

    // Act
    const forged = { ...notification(JSON.stringify({ id: 'b' })), MessageId: 'm-future', Timestamp: '+275760-09-13T00:00:00Z' };
    const res = await handler(withSent(sqsEvent([notification(record), notification(record), { ...notification('Hello world!'), MessageId: 'm-text' }, forged]), Date.parse('2026-03-01T10:00:01Z')));

    // Assess: both copies are one event (one id, one seq), timed by the notification.
    expect(res).toEqual({ batchItemFailures: [] });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatchObject({ id: eventId('people', 'inbox', 'dc1e94d9-56c5-5e96-808d-cc7f68faa162', 0), data: { id: 'a', name: 'A' }, ts: Date.parse('2026-03-01T10:00:00.250Z') });
    expect(sent[1]).toMatchObject({ id: sent[0]!.id, seq: sent[0]!.seq });
    // A Timestamp after the queue got the message is not SNS's: the send time serves.
    expect(sent[2]).toMatchObject({ data: { id: 'b' }, ts: Date.parse('2026-03-01T10:00:01Z') });
    expect((await quarantine.list('people')).items.map((q) => q.reason)).toEqual([expect.stringMatching(/^SNS Message is not valid JSON: /)]);
  });

  it('reports only the messages whose envelopes could not be sent', async () => {
    const { handler, publisher, audit } = setup();
    publisher.failWhen = (m) => (JSON.parse(m.body) as ChangeEnvelope).data?.id === 'b';
    const res = await handler(sqsEvent([{ id: 'a' }, [{ id: 'b' }, { id: 'c' }]]));
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(audit.entries.map((e) => e.key)).toEqual(['a']);
  });

  it('fails every message when the queue cannot be reached', async () => {
    const { handler, publisher } = setup();
    publisher.throwSends = 1;
    const res = await handler(sqsEvent([{ id: 'a' }, { id: 'b' }]));
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m0', 'm1']);
  });
});

describe('sqs and eventbridge sources with timestampField', () => {
  const timed = flowSchema.parse({
    ...replicaFlow,
    sources: [
      { id: 'inbox', type: 'sqs', timestampField: 'updatedAt' },
      { id: 'bus', type: 'eventbridge', busName: 'crm', pattern: { source: ['crm'] }, timestampField: 'meta.changedAt' },
    ],
  });

  it("order one key's changes of one SendMessageBatch (one SentTimestamp) by the records' own time, quarantining one without it", async () => {
    // Prepare: ten updates of one key sent in one batch share their SentTimestamp; their ids are random.
    const step = fakeStepContext();
    const handler = createSqsCaptureHandler(fakeCaptureDeps(step, timed, 'inbox', QUEUE));
    const updates = Array.from({ length: 10 }, (_, n) => ({ id: 'k', n, updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString() }));
    const event = withSent(sqsEvent([...updates, { id: 'k', n: 99 }]), 1768000000000);

    // Act
    await handler(event);

    // Assess: the newest update has the latest ts, whatever the message ids; the one without the field is quarantined.
    const sent = step.publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => e.ts)).toEqual(updates.map((u) => Date.parse(u.updatedAt)));
    expect((await step.quarantine.list('people')).items.map((i) => i.reason)).toEqual(['timestampField "updatedAt" is missing']);
  });

  it("take an EventBridge event's time from the detail, finer than the event's whole seconds", async () => {
    // Prepare
    const step = fakeStepContext();
    const handler = createSqsCaptureHandler(fakeCaptureDeps(step, timed, 'bus', QUEUE));
    const ev = (id: string, ms: number) => ({ version: '0', id, 'detail-type': 'X', source: 'crm', account: '1', time: '2026-01-10T08:00:00Z', region: 'us-east-1', resources: [], detail: { id: 'k', meta: { changedAt: ms } } });

    // Act
    await handler(sqsEvent([ev('ev-b', 1768032000250), ev('ev-a', 1768032000900)]));

    // Assess
    expect(step.publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.ts)).toEqual([1768032000250, 1768032000900]);
  });

  it('refuse "$event." in the config: the path is in the record', () => {
    const config = { flows: [{ id: 'people', key: ['id'], sources: [{ id: 'inbox', type: 'sqs', timestampField: '$event.time' }], targets: [{ id: 'replica', type: 'dynamodb' }] }] };
    expect(() => parseConfig(config)).toThrow(/\$\.flows\[0\]\.sources\[0\]\.timestampField: is a path in the record/);
  });
});

describe('sqs capture handler for an eventbridge source', () => {
  const ebEvent = (id: string, detail: unknown, time = '2026-01-10T08:00:00Z') => ({
    version: '0',
    id,
    'detail-type': 'ContactChanged',
    source: 'crm',
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: [],
    detail,
  });

  it('captures detail as the record, time as ts, the event id as id, and time then id as seq (the same for a second delivery)', async () => {
    const { handler, publisher } = setup('bus');
    const res = await handler(sqsEvent([ebEvent('ev-1', { id: 'a', name: 'A' })]));
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.bodies<ChangeEnvelope>(QUEUE)).toEqual([
      expect.objectContaining({ id: eventId('people', 'bus', 'ev-1'), seq: arrivalSeq('upsert', Date.parse('2026-01-10T08:00:00Z'), 'ev-1'), ts: Date.parse('2026-01-10T08:00:00Z'), data: { id: 'a', name: 'A' }, source: 'bus' }),
    ]);
  });

  it('gives a redelivered event the same id, and quarantines events without an object detail', async () => {
    const { handler, publisher, quarantine } = setup('bus');
    await handler(sqsEvent([ebEvent('ev-2', { id: 'a' }), ebEvent('ev-2', { id: 'a' }), ebEvent('ev-3', 'text')]));
    const ids = publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);
    expect((await quarantine.list('people')).items.map((i) => [i.position, i.reason])).toEqual([['m2', 'event detail is a string, not an object']]);
  });
});
