import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { purgeRawPullKeys } from '../../../lib/cli/pull-purge';

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } }));

describe('purgeRawPullKeys', () => {
  const mock = mockClient(doc);
  afterEach(() => mock.reset());

  it.each([
    ['has never run', undefined],
    ['last ran with raw keys (the deployed release does not seal yet)', { keys: 'raw' }],
    ['is still re-keying', { keys: 'sealed:0123456789abcdef', settling: [{ runId: 'r', chunks: 2, from: 1 }] }],
  ])('refuses while the pull %s, and scans nothing', async (_when, run) => {
    // Prepare
    mock.on(GetCommand).resolves(run ? { Item: { pk: '~pull#people#export', run } } : {});

    // Act / Assess
    await expect(purgeRawPullKeys(doc, 'state', 'people', 'export')).rejects.toThrow(/has not run with sealed keys yet/);
    expect(mock.commandCalls(ScanCommand)).toHaveLength(0);
  });

  it('refuses while a pull holds the lease, and scans nothing', async () => {
    // Prepare
    mock.on(UpdateCommand).rejects(Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' }));

    // Act / Assess
    await expect(purgeRawPullKeys(doc, 'state', 'people', 'export')).rejects.toThrow(/a pull of people\/export is running/);
    expect(mock.commandCalls(ScanCommand)).toHaveLength(0);
  });

  it('holds the lease through the scan and lets it go after', async () => {
    // Prepare: a sealed run; one page with a raw and a sealed key.
    mock.on(GetCommand).resolves({ Item: { pk: '~pull#people#export', run: { keys: 'sealed:0123456789abcdef' } } });
    mock.on(ScanCommand).resolves({ Items: [{ pk: '~pull#people#export#k#ann@x.io' }, { pk: `~pull#people#export#k#hmac:${'a'.repeat(64)}` }] });
    mock.on(BatchWriteCommand).resolves({});

    // Act
    const result = await purgeRawPullKeys(doc, 'state', 'people', 'export');

    // Assess
    expect(result).toEqual({ deleted: 1, kept: 1 });
    expect(mock.commandCalls(BatchWriteCommand)[0]!.args[0].input.RequestItems!.state).toEqual([{ DeleteRequest: { Key: { pk: '~pull#people#export#k#ann@x.io' } } }]);
    const leases = mock.commandCalls(UpdateCommand).map((c) => c.args[0].input.UpdateExpression);
    expect(leases).toEqual([expect.stringMatching(/^SET leaseOwner/), expect.stringMatching(/^SET leaseOwner/), expect.stringMatching(/^REMOVE leaseOwner/)]);
  });
});
