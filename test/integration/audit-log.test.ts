import { deflateRawSync } from 'node:zlib';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_TIME_INDEX } from '../../functions/plan/store-tables';
import { DynamoDbAuditLog } from '../../functions/adapters/dynamodb-audit-log';
import { documentClientFor } from '../../functions/adapters/clients';
import type { AuditEntry } from '../../functions/ports';
import { createStoreTables, integrationClients } from '../support/local-servers';

describe('DynamoDbAuditLog against DynamoDB Local', () => {
  const clients = integrationClients();
  let tables: Awaited<ReturnType<typeof createStoreTables>>;

  beforeAll(async () => {
    tables = await createStoreTables(clients);
  });
  afterAll(() => clients.destroy());

  it('writes more than 25 entries (several BatchWriteItem calls) and reads them back oldest first', async () => {
    // Prepare
    const log = new DynamoDbAuditLog({ client: documentClientFor(clients.dynamodb), tableName: tables.audit });
    // Recent, so the 90-day TTL has not passed and DynamoDB Local's TTL sweep leaves the entries alone.
    const t0 = Date.now() - 3_600_000;
    const entries: AuditEntry[] = Array.from({ length: 61 }, (_, i) => ({
      flow: 'contacts',
      key: i % 2 === 0 ? 'c-1' : 'c-2',
      step: 'resolve',
      at: t0 + (60 - i) * 1000,
      source: 'crm',
      eventId: `e${i}`,
      outcome: 'won',
      version: i,
    }));

    // Act
    await log.write(entries);
    const c1 = await log.lineage('contacts', 'c-1');
    const c2 = await log.lineage('contacts', 'c-2');

    // Assess
    expect(c1).toHaveLength(31);
    expect(c2).toHaveLength(30);
    expect(c1.map((e) => e.at)).toEqual([...c1.map((e) => e.at)].sort((a, b) => a - b));
    expect(new Set([...c1, ...c2].map((e) => e.eventId)).size).toBe(61);
  });

  it('answers a time window from its hour partitions, with entry and window items of earlier releases from the index, and lineage without them', async () => {
    // Prepare: entries of two flows over two hours, and one entry item as earlier releases wrote it (in the index).
    const log = new DynamoDbAuditLog({ client: clients.doc, tableName: tables.audit });
    const h0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
    const at = (min: number) => h0 + min * 60_000;
    const e = (flow: string, key: string, min: number, outcome: AuditEntry['outcome']): AuditEntry => ({ flow, key, step: 'resolve', at: at(min), source: 'crm', eventId: `${key}-${min}`, outcome });
    await log.write([e('win', 'a', 10, 'won'), e('win', 'b', 59, 'won'), e('win', 'a', 61, 'superseded'), e('other', 'a', 30, 'won')]);
    await log.write([e('win', 'c', 90, 'won')]);
    const hour20 = `win#${new Date(at(20)).toISOString().slice(0, 13)}`;
    await clients.doc.send(new PutCommand({ TableName: tables.audit, Item: { pk: 'win#old', sk: 'legacy', flowHour: hour20, ...e('win', 'old', 20, 'won') } }));
    const legacyWindow = deflateRawSync(Buffer.from(JSON.stringify([{ key: 'w', step: 'resolve', at: at(25), eventId: 'w-25', outcome: 'won' }])));
    await clients.doc.send(new PutCommand({ TableName: tables.audit, Item: { pk: 'win#~window#3', sk: 'legacy', flowHour: hour20, at: at(25), z: legacyWindow } }));

    // Act
    const all = await log.between('win', at(0), at(120));
    const part = await log.between('win', at(15), at(65));

    // Assess
    expect(all.map((x) => `${x.key}@${(x.at - h0) / 60_000}:${x.outcome}`)).toEqual(['a@10:won', 'old@20:won', 'w@25:won', 'b@59:won', 'a@61:superseded', 'c@90:won']);
    // Windows keep no event ids (status and replay read keys, outcomes and times); entry items keep theirs.
    expect(part.map((x) => `${x.key}:${x.eventId}`)).toEqual(['old:old-20', 'w:w-25', 'b:', 'a:']);
    expect((await log.lineage('win', 'a')).map((x) => x.outcome)).toEqual(['won', 'superseded']);
    // Only the items of earlier releases are in the index: windows of this release are not copied there.
    const indexed = await clients.doc.send(new ScanCommand({ TableName: tables.audit, IndexName: AUDIT_TIME_INDEX }));
    expect(indexed.Items?.filter((i) => String(i.flowHour).startsWith('win#')).map((i) => i.pk)).toEqual(expect.arrayContaining(['win#old', 'win#~window#3']));
    expect(indexed.Items?.filter((i) => String(i.flowHour).startsWith('win#'))).toHaveLength(2);
  });
});

