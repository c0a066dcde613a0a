import { describe, expect, it } from 'vitest';
import type { ChangeEnvelope } from '../../../functions/core/envelope';
import { unmarshallImage } from '../../../functions/adapters/dynamodb-images';
import { createDynamoDbStreamCaptureHandler } from '../../../functions/handlers/dynamodb-stream-capture-handler';
import { fakeCaptureDeps, fakeStepContext } from '../../fixtures/step-context';
import { replicaFlow, streamEvent, streamRecord } from '../../fixtures/streams';

const QUEUE = 'https://sqs.local/people-transform';

function setup() {
  const step = fakeStepContext();
  const handler = createDynamoDbStreamCaptureHandler({ ...fakeCaptureDeps(step, replicaFlow, 'primary', QUEUE), unmarshall: unmarshallImage });
  const { publisher, audit, quarantine, metrics } = step;
  return { handler, publisher, audit, quarantine, metrics };
}

const person = (id: string, status = 'active') => ({ id: { S: id }, name: { S: `name ${id}` }, status: { S: status } });

describe('dynamodb-stream capture handler', () => {
  it('sends an envelope per change to the transform queue and audits the captures', async () => {
    // Prepare
    const { handler, publisher, audit, metrics } = setup();
    const event = streamEvent(
      streamRecord('INSERT', { newImage: person('a') }, { seq: '100' }),
      streamRecord('MODIFY', { newImage: person('b'), oldImage: person('b', 'blocked') }, { seq: '101' }),
      streamRecord('REMOVE', { oldImage: person('c') }, { seq: '102' }),
    );
    // Act
    const res = await handler(event);
    // Assess
    expect(res).toEqual({ batchItemFailures: [] });
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.seq, e.data?.id])).toEqual([
      ['upsert', '100', 'a'],
      ['upsert', '101', 'b'],
      ['delete', '102', 'c'],
    ]);
    expect(audit.entries.map((e) => [e.outcome, e.key])).toEqual([
      ['captured', 'a'],
      ['captured', 'b'],
      ['captured', 'c'],
    ]);
    expect(metrics.counts.Captured).toBe(3);
  });

  it('drops records the source filter rejects, as the pushed-down filter would', async () => {
    const { handler, publisher, metrics } = setup();
    await handler(streamEvent(streamRecord('INSERT', { newImage: person('a', 'gone') }), streamRecord('INSERT', { newImage: person('b') })));
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.data?.id)).toEqual(['b']);
    expect(metrics.counts.Filtered).toBe(1);
  });

  it('quarantines bad records with their sequence number and does not fail the batch', async () => {
    const { handler, publisher, quarantine, audit } = setup();
    const res = await handler(
      streamEvent(
        streamRecord('INSERT', { newImage: { ...person('a'), n: { N: '123456789012345678901234567890' }, m: { N: '0.12345678901234567890' } } }, { seq: '200' }),
        streamRecord('INSERT', { newImage: { name: { S: 'no id' }, status: { S: 'active' } } }, { seq: '201' }),
        streamRecord('INSERT', { newImage: person('c') }, { seq: '202' }),
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(publisher.bodies<ChangeEnvelope>(QUEUE).map((e) => e.seq)).toEqual(['202']);
    const items = (await quarantine.list('people')).items;
    expect(items.map((i) => [i.position, i.reason]).sort()).toEqual([
      ['200', 'record cannot be carried exactly: number at $.n is an integer beyond 2^53 that a JSON number would round; send it as a string'],
      ['201', 'missing key field(s) id'],
    ]);
    // The quarantined copy keeps the number's digits, and lineage finds it by its key.
    expect(items.find((i) => i.position === '200')!.record).toMatchObject({ id: 'a', n: '123456789012345678901234567890' });
    expect(items.find((i) => i.position === '200')!.errors).toEqual([expect.stringMatching(/^number at \$\.n /), expect.stringMatching(/^number at \$\.m /)]);
    expect(audit.entries.map((e) => [e.outcome, e.key])).toEqual([['quarantined', 'a'], ['quarantined', ''], ['captured', 'c']]);
  });

  it('sends a delete, and an upsert that fixes the value, whose old image holds a number a double cannot hold', async () => {
    // Prepare
    const { handler, publisher, quarantine } = setup();
    const exact = { N: '0.12345678901234567890' };

    // Act
    await handler(
      streamEvent(
        streamRecord('MODIFY', { newImage: { ...person('a'), price: { N: '0.5' } }, oldImage: { ...person('a'), price: exact } }, { seq: '300' }),
        streamRecord('REMOVE', { oldImage: { ...person('b'), price: exact } }, { seq: '301' }),
      ),
    );

    // Assess
    const sent = publisher.bodies<ChangeEnvelope>(QUEUE);
    expect(sent.map((e) => [e.op, e.data?.id, e.data?.price])).toEqual([
      ['upsert', 'a', 0.5],
      ['delete', 'b', 0.12345678901234568],
    ]);
    // The old image only tells which fields changed; with such a number it is left out rather than altered.
    expect(sent[0]!.before).toBeUndefined();
    expect((await quarantine.list('people')).items).toEqual([]);
  });

  it('answers the sequence number of the first record whose envelope could not be sent', async () => {
    const { handler, publisher, audit } = setup();
    publisher.failWhen = (m) => (JSON.parse(m.body) as ChangeEnvelope).seq === '301';
    const res = await handler(
      streamEvent(
        streamRecord('INSERT', { newImage: person('a') }, { seq: '300' }),
        streamRecord('INSERT', { newImage: person('b') }, { seq: '301' }),
        streamRecord('INSERT', { newImage: person('c') }, { seq: '302' }),
      ),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: '301' }] });
    // Only what comes before the failure is audited; the rest is retried from 301.
    expect(audit.entries.map((e) => e.key)).toEqual(['a']);
  });

  it('fails from the first record when the queue cannot be reached, and from the first quarantined one when quarantine fails', async () => {
    const a = setup();
    a.publisher.throwSends = 1;
    expect(await a.handler(streamEvent(streamRecord('INSERT', { newImage: person('a') }, { seq: '400' })))).toEqual({ batchItemFailures: [{ itemIdentifier: '400' }] });

    const b = setup();
    b.quarantine.failPuts = 1;
    const res = await b.handler(
      streamEvent(streamRecord('INSERT', { newImage: person('a') }, { seq: '500' }), streamRecord('INSERT', { newImage: { status: { S: 'active' } } }, { seq: '501' })),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: '501' }] });
  });

  it('refuses a source id that is not a dynamodb-stream source of the flow', () => {
    expect(() => createDynamoDbStreamCaptureHandler({ ...setupDeps(), sourceId: 'inbox' })).toThrow(/no dynamodb-stream source "inbox"/);
  });
});

function setupDeps() {
  return { ...fakeCaptureDeps(fakeStepContext(), replicaFlow, 'primary', QUEUE), unmarshall: unmarshallImage };
}
