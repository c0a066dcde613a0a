import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
