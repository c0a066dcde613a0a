import type { SynclineConfigInput } from '../../functions/config/schema';

/** One flow with a target of every type (and an existing DynamoDB table given by ARN, as from another stack). */
export function everyTargetFlow(id = 'every-target'): SynclineConfigInput['flows'][number] {
  return {
    id,
    key: ['id'],
    sources: [{ id: 'crm', type: 'webhook' }],
    targets: [
      { id: 'replica', type: 'dynamodb', tableName: 'arn:aws:dynamodb:eu-west-1:111122223333:table/people-replica' },
      { id: 'lake', type: 's3', prefix: 'contacts/' },
      { id: 'archive', type: 's3', bucket: 'existing-archive', prefix: 'syncline/' },
      { id: 'bus', type: 'eventbridge', busName: 'crm-events', detailType: 'ContactChanged' },
      { id: 'jira', type: 'http', url: 'https://jira.example.com/rest/api/2/issue/{key}', secretName: 'jira-token', rateLimitPerSecond: 5 },
      { id: 'peer', type: 'http', url: 'https://peer.example.com/webhooks/people', method: 'POST', secretName: 'peer-signing', authType: 'webhook' },
      { id: 'out', type: 'sqs', queueArn: 'arn:aws:sqs:eu-west-1:111122223333:people-out' },
    ],
  };
}

