import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
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
});
