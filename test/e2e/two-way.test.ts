import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { startRuntime, type Runtime } from '../../lib/local/runtime';
import { waitFor } from '../support/local-servers';

/** Two tables synced both ways by two flows: a-to-b reads A's stream and writes B, b-to-a the reverse. */
const config = parseConfig({
  flows: [
    { id: 'a-to-b', key: ['id'], sources: [{ id: 'a', type: 'dynamodb-stream', tableName: 'two-way-a' }], targets: [{ id: 'b', type: 'dynamodb', tableName: 'two-way-b' }] },
    { id: 'b-to-a', key: ['id'], sources: [{ id: 'b', type: 'dynamodb-stream', tableName: 'two-way-b' }], targets: [{ id: 'a', type: 'dynamodb', tableName: 'two-way-a' }] },
  ],
});

const strip = (item: Record<string, unknown> | undefined) => {
  if (!item) return undefined;
  const { _syncline: _m, ...rest } = item;
  return rest;
};

describe('two-way sync between two DynamoDB tables', () => {
  let rt: Runtime;
  let writes = 0;

  beforeAll(async () => {
    rt = await startRuntime({
      config,
      port: 0,
      visibilityTimeoutSeconds: 1,
      log: () => {},
      instrumentClients: (c) =>
        c.dynamodb.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'TransactWriteItemsCommand') writes++;
            return next(args);
          },
          { step: 'initialize', name: 'countTargetWrites' },
        ),
    });
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const item = async (table: string, id: string) =>
    strip((await rt.clients.doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item as Record<string, unknown> | undefined);
  const settled = () => waitFor(async () => ((await rt.idle()) ? true : undefined), 'idle', 30_000);

  it('a change on one side reaches the other once, and its echo is dropped', async () => {
    await rt.clients.doc.send(new PutCommand({ TableName: 'two-way-a', Item: { id: 'p1', name: 'Ann' } }));
    await waitFor(async () => ((await item('two-way-b', 'p1'))?.name === 'Ann' ? true : undefined), 'p1 in B', 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    await settled();
    expect(await item('two-way-a', 'p1')).toEqual({ id: 'p1', name: 'Ann' });
    const lineage = await rt.clients.doc.send(new ScanCommand({ TableName: rt.resources.tables.audit }));
    expect((lineage.Items ?? []).some((e) => e.outcome === 'echo')).toBe(true);
  });

  it('concurrent edits on both sides converge to the same content, and the writes settle', async () => {
    // Act: both sides edited at about the same time, several keys.
    const ids = ['c1', 'c2', 'c3', 'c4'];
    await Promise.all(
      ids.flatMap((id, i) => [
        rt.clients.doc.send(new PutCommand({ TableName: 'two-way-a', Item: { id, name: `a-${i}`, side: 'a' } })),
        rt.clients.doc.send(new PutCommand({ TableName: 'two-way-b', Item: { id, name: `b-${i}`, side: 'b' } })),
      ]),
    );
    const deadline = Date.now() + 40_000;
    let converged = false;
    while (Date.now() < deadline && !converged) {
      await new Promise((r) => setTimeout(r, 500));
      const pairs = await Promise.all(ids.map(async (id) => [await item('two-way-a', id), await item('two-way-b', id)] as const));
      converged = pairs.every(([a, b]) => JSON.stringify(a) === JSON.stringify(b)) && (await rt.idle());
    }

    // Assess: same content both sides, and no more writes once quiet.
    expect(converged).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    const before = writes;
    await new Promise((r) => setTimeout(r, 4000));
    expect(writes).toBe(before);
    console.log(`two-way: ${writes} target writes in total for 1 + ${ids.length} keys edited on both sides`);
  });
});
