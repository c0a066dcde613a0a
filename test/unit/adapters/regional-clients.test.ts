import { describe, expect, it } from 'vitest';
import { documentClient, documentClientForTable, regionOfArn, sqsClient, sqsClientForQueue } from '../../../functions/adapters/clients';

describe('clients in the region of the resource', () => {
  it('reads the region of an ARN, and none of a name', () => {
    expect(regionOfArn('arn:aws:dynamodb:eu-west-1:111122223333:table/people')).toBe('eu-west-1');
    expect(regionOfArn('arn:aws:sqs:ap-southeast-2:111122223333:out')).toBe('ap-southeast-2');
    expect(regionOfArn('people')).toBeUndefined();
  });

  it("uses the function's own client for a name or an ARN in its region", () => {
    expect(documentClientForTable('people', 'us-east-1')).toBe(documentClient);
    expect(documentClientForTable('arn:aws:dynamodb:us-east-1:111122223333:table/people', 'us-east-1')).toBe(documentClient);
    expect(sqsClientForQueue('arn:aws:sqs:us-east-1:111122223333:out', 'us-east-1')).toBe(sqsClient);
  });

  it("signs for, and sends to, another region with a client of that region, one per region", async () => {
    const table = documentClientForTable('arn:aws:dynamodb:eu-west-1:111122223333:table/people', 'us-east-1');
    expect(table).not.toBe(documentClient);
    expect(await table.config.region()).toBe('eu-west-1');
    expect(documentClientForTable('arn:aws:dynamodb:eu-west-1:444455556666:table/other', 'us-east-1')).toBe(table);
    const queue = sqsClientForQueue('arn:aws:sqs:eu-central-1:111122223333:out', 'us-east-1');
    expect(await queue.config.region()).toBe('eu-central-1');
  });
});
