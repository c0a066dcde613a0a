import { CreateTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { describeTableStream } from '../../functions/adapters/dynamodb-table-stream';
import { createStreamArnLookupHandler } from '../../functions/handlers/stream-arn-lookup';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

const clients = integrationClients();
const lookup = createStreamArnLookupHandler({ region: 'us-east-1', describe: describeTableStream(clients.dynamodb) });

// The request CloudFormation sends through the CDK Provider framework:
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html
const request = (tableName: string, requestType: 'Create' | 'Update' = 'Create') =>
  ({
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1',
    RequestId: 'r1',
    LogicalResourceId: 'Lookup',
    ResourceType: 'Custom::SynclineStreamArn',
    ResourceProperties: { ServiceToken: 'x', TableName: tableName, Source: 'people/primary', Deployment: 'd1' },
    ...(requestType === 'Update' ? { PhysicalResourceId: `${tableName}-stream-arn`, OldResourceProperties: {} } : {}),
  }) as CloudFormationCustomResourceEvent;

async function table(stream?: 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY'): Promise<string> {
  const name = `lookup-${uniqueSuffix()}`;
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      ...(stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: stream } } : {}),
    }),
  );
  return name;
}

describe('the deploy-time stream ARN lookup of a dynamodb-stream source, against DynamoDB Local', () => {
  it('answers the current stream ARN of a table with new and old images', async () => {
    const name = await table('NEW_AND_OLD_IMAGES');
    const result = await lookup(request(name));
    expect(result.Data!.StreamArn).toMatch(new RegExp(`:table/${name}/stream/`));
    expect(result.PhysicalResourceId).toBe(`${name}-stream-arn`);
  });

  it('fails the deploy naming the source, the table and the command that turns its stream on', async () => {
    const name = await table();
    await expect(lookup(request(name))).rejects.toThrow(
      `syncline source people/primary: table "${name}" has no stream; turn it on (aws dynamodb update-table --region us-east-1 --table-name ${name} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES)`,
    );
  });

  it('refuses a stream without new images, and a table that does not exist', async () => {
    const keysOnly = await table('KEYS_ONLY');
    await expect(lookup(request(keysOnly))).rejects.toThrow(/is KEYS_ONLY, which carries no new item image/);
    await expect(lookup(request(`missing-${uniqueSuffix()}`))).rejects.toThrow(/does not exist in us-east-1/);
  });

  it('picks up the new ARN of a stream that was turned off and on again, on the next deploy', async () => {
    const name = await table('NEW_AND_OLD_IMAGES');
    const first = (await lookup(request(name))).Data!.StreamArn;
    await clients.dynamodb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: false } }));
    await expect(lookup(request(name, 'Update'))).rejects.toThrow(/has no stream/);
    // DynamoDB names a stream by the time it was created, to the millisecond.
    await new Promise((r) => setTimeout(r, 5));
    await clients.dynamodb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }));
    const second = await lookup(request(name, 'Update'));
    expect(second.Data!.StreamArn).not.toBe(first);
    expect(second.PhysicalResourceId).toBe(`${name}-stream-arn`);
  });

  it('does nothing on delete: the table and its stream belong to the user', async () => {
    const result = await lookup({ ...request('any'), RequestType: 'Delete', PhysicalResourceId: 'any-stream-arn' } as CloudFormationCustomResourceEvent);
    expect(result).toEqual({ PhysicalResourceId: 'any-stream-arn' });
  });
});
