import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createLocalClients, type LocalClients, type LocalEndpoints } from '../../lib/local/clients';
import { ensureQueue, ensureTable, storeTableInput, targetTableInput } from '../../lib/local/resources';
import type { StoreTableId } from '../../functions/plan/store-tables';
import { STORE_TABLES } from '../../functions/plan/plan';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoints of the DynamoDB Local and fauxqs that the integration globalSetup started. */
    localEndpoints: LocalEndpoints;
  }
}

/** Clients for the servers of the integration globalSetup. */
export function integrationClients(): LocalClients {
  return createLocalClients(inject('localEndpoints'));
}

/** A suffix that keeps test files from sharing tables and queues on the shared servers. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** Creates the five store tables under unique names, exactly as the local runtime does. */
export async function createStoreTables(clients: LocalClients, suffix = uniqueSuffix()): Promise<Record<StoreTableId, string>> {
  const names = Object.fromEntries(STORE_TABLES.map((t) => [t.id, `it-${suffix}-${t.id}`])) as Record<StoreTableId, string>;
  await Promise.all(STORE_TABLES.map((t) => ensureTable(clients.dynamodb, storeTableInput(t, names[t.id]), t.ttlAttribute)));
  return names;
}

export async function createTargetTable(clients: LocalClients, name: string, keyAttribute = 'id'): Promise<string> {
  await ensureTable(clients.dynamodb, targetTableInput(name, keyAttribute));
  return name;
}

export async function createQueue(clients: LocalClients, name: string, attributes: Record<string, string> = {}): Promise<{ url: string; arn: string }> {
  return ensureQueue(clients.sqs, name, attributes);
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
