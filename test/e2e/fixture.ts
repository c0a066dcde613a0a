import { readCdkContext } from '../../lib/config/cdk-context';
import { loadConfig, parseConfig } from '../../lib/config/load';
import type { SynclineConfig, SynclineConfigInput } from '../../functions/config/schema';

/** A flow with two webhook sources writing the same records, to exercise conflicts between sources. */
export const accountsFlow: SynclineConfigInput['flows'][number] = {
  id: 'accounts',
  key: ['id'],
  sources: [
    { id: 'crm', type: 'webhook', timestampField: 'updatedAt', maxBodyBytes: 4096 },
    { id: 'erp', type: 'webhook', timestampField: 'updatedAt', deleteWhen: { op: ['delete'] } },
  ],
  transform: { exclude: ['op'], mask: { taxId: 'hash' } },
  conflict: { strategy: 'field-lww' },
  targets: [{ id: 'replica', type: 'dynamodb', keyAttribute: 'id' }],
};

/** The example flows of cdk.json plus the two-source fixture flow. */
export function e2eConfig(): SynclineConfig {
  const example = loadConfig(readCdkContext());
  return parseConfig({ ...example, flows: [...example.flows, accountsFlow] }, 'e2e fixture');
}
