import 'aws-sdk-client-mock-vitest/extend';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, ListMessageMoveTasksCommand, SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStack, routeOf, type StackTarget } from '../../../lib/cli/stack-target';
import type { Progress } from '../../../lib/cli/progress';
import { startJsonServer, type JsonServer } from '../../support/json-server';

const cfn = mockClient(CloudFormationClient);
const sqs = mockClient(SQSClient);
const lambda = mockClient(LambdaClient);
const credentials = async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' });
const REGION = 'eu-west-1';

const queue = (id: string) => ({
  id,
  name: `orders-${id}`,
  url: `https://sqs.${REGION}.amazonaws.com/1/orders-${id}`,
  arn: `arn:aws:sqs:${REGION}:1:orders-${id}`,
  dlq: { name: `orders-${id}-dlq`, url: `https://sqs.${REGION}.amazonaws.com/1/orders-${id}-dlq`, arn: `arn:aws:sqs:${REGION}:1:orders-${id}-dlq` },
});

const flowView = {
  id: 'orders',
  config: {
    sources: [
      { id: 'table', type: 'dynamodb-stream' },
      { id: 'feed', type: 'schedule' },
      { id: 'shop', type: 'webhook' },
    ],
  },
  resources: {
    queues: [queue('transform'), queue('resolve')],
    functions: [
      { id: 'capture-table', name: 'stack-orders-capture-table', step: 'capture', handler: 'dynamodb-stream-capture', sourceId: 'table' },
      { id: 'capture-feed', name: 'stack-orders-capture-feed', step: 'capture', handler: 'schedule-capture', sourceId: 'feed' },
      { id: 'capture-shop', name: 'stack-orders-capture-shop', step: 'capture', handler: 'webhook-capture', sourceId: 'shop' },
    ],
  },
};

/** A Progress that remembers every update. */
function recordingProgress(): Progress & { updates: [number, number | undefined, string | undefined][] } {
  const updates: [number, number | undefined, string | undefined][] = [];
  return { updates, update: (v, t, l) => void updates.push([v, t, l]), stop: () => undefined };
}

describe('stack target', () => {
  let api: JsonServer;
  let forbid = false;

  beforeAll(async () => {
    api = await startJsonServer((req) => {
      if (forbid) return { status: 403, body: { message: 'Forbidden' } };
      if (req.url === '/flows/orders') return { body: flowView };
      if (req.url === '/flows/orders/conflicts?status=open') return { body: [{ id: 'c1' }] };
      return { status: 404, body: { message: `no route for ${req.method} ${req.url}` } };
    });
  });
  afterAll(() => api.close());

  beforeEach(() => {
    cfn.reset();
    sqs.reset();
    lambda.reset();
    forbid = false;
    api.requests.length = 0;
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'prod', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'ApiEndpoint', OutputValue: `${api.url}/` }, { OutputKey: 'ApiId', OutputValue: 'a1b2c3' }] }],
    });
  });

  const open = (): Promise<StackTarget> => openStack({ stackName: 'prod', region: REGION, credentials, pollMs: 0 });

  describe('finding the stack', () => {
    it('reads the API endpoint from the stack output ApiEndpoint', async () => {
      // Act
      const target = await open();

      // Assess
      expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'prod' });
      expect(target.name).toBe(`stack prod (${REGION})`);
      await expect(target.get('/flows/orders/conflicts?status=open')).resolves.toEqual([{ id: 'c1' }]);
    });

    it('names a missing stack and the region it looked in', async () => {
      // Prepare
      cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id nope does not exist'), { name: 'ValidationError' }));

      // Act / Assess
      await expect(openStack({ stackName: 'nope', region: REGION, credentials })).rejects.toThrow(`stack "nope" not found in ${REGION}`);
    });

    it('names the missing output and lists the outputs the stack has', async () => {
      // Prepare
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [{ StackName: 'other', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'BucketName', OutputValue: 'b' }] }],
      });

      // Act / Assess
      await expect(openStack({ stackName: 'other', region: REGION, credentials })).rejects.toThrow(/stack "other" \(CREATE_COMPLETE\) has no output ApiEndpoint.*outputs: BucketName/);
    });

    it('turns a refused DescribeStacks into a line naming the permission', async () => {
      // Prepare
      cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('User: arn:aws:iam::1:user/u is not authorized to perform: cloudformation:DescribeStacks'), { name: 'AccessDenied' }));

      // Act / Assess
      await expect(open()).rejects.toThrow('cloudformation:DescribeStacks on stack prod was refused: the caller needs permission cloudformation:DescribeStacks');
    });
  });

  describe('admin API', () => {
    it('signs each request with SigV4 for execute-api in the stack region', async () => {
      // Prepare
      const target = await open();

      // Act
      await target.get('/flows/orders/conflicts?status=open');

      // Assess
      const [req] = api.requests;
      expect(req!.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIDTEST/\\d{8}/${REGION}/execute-api/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`));
      expect(req!.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    });

    it('explains a 403 as the missing execute-api:Invoke permission on the route', async () => {
      // Prepare
      const target = await open();
      forbid = true;

      // Act / Assess
      await expect(target.get('/flows/orders/records/a%23b/lineage')).rejects.toThrow(
        /forbidden: the caller lacks execute-api:Invoke on GET \/flows\/\{flowId\}\/records\/\{key\}\/lineage of stack prod \(eu-west-1\).*arn:aws:execute-api:eu-west-1:<account>:a1b2c3\/\*\/GET\/flows\/\*\/records\/\*\/lineage/,
      );
    });

    it('names routes by their template', () => {
      expect(routeOf('POST', '/flows/a/conflicts/c-1/resolve')).toBe('POST /flows/{flowId}/conflicts/{conflictId}/resolve');
      expect(routeOf('GET', '/flows/a/conflicts?status=all')).toBe('GET /flows/{flowId}/conflicts');
      expect(routeOf('GET', '/flows/a/status')).toBe('GET /flows/{flowId}/status');
    });
  });

  describe('redrive', () => {
    it('starts a move task per non-empty DLQ and follows it to the end, reporting moved counts and progress', async () => {
      // Prepare
      const target = await open();
      const transform = queue('transform');
      sqs.on(GetQueueAttributesCommand, { QueueUrl: transform.dlq.url }).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
      sqs.on(GetQueueAttributesCommand, { QueueUrl: queue('resolve').dlq.url }).resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });
      sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h1' });
      // An earlier redrive's task is listed until this one is; then this one runs and completes.
      const previous = { Status: 'COMPLETED', StartedTimestamp: 100, ApproximateNumberOfMessagesMoved: 7, ApproximateNumberOfMessagesToMove: 7 };
      sqs
        .on(ListMessageMoveTasksCommand)
        .resolvesOnce({ Results: [previous] })
        .resolvesOnce({ Results: [previous] })
        .resolvesOnce({ Results: [{ Status: 'RUNNING', TaskHandle: 'h1', StartedTimestamp: 200, ApproximateNumberOfMessagesMoved: 1, ApproximateNumberOfMessagesToMove: 3 }] })
        .resolves({ Results: [{ Status: 'COMPLETED', StartedTimestamp: 200, ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 }] });
      const progress = recordingProgress();

      // Act
      const result = await target.redrive('orders', undefined, progress);

      // Assess
      // The earlier task's 7 are not taken for this one's.
      expect(result).toEqual({ flow: 'orders', moved: { transform: 3, resolve: 0 }, total: 3 });
      expect(sqs).toHaveReceivedCommandTimes(StartMessageMoveTaskCommand, 1);
      expect(sqs).toHaveReceivedCommandWith(StartMessageMoveTaskCommand, { SourceArn: transform.dlq.arn, DestinationArn: transform.arn });
      expect(sqs).toHaveReceivedCommandWith(ListMessageMoveTasksCommand, { SourceArn: transform.dlq.arn });
      expect(progress.updates).toContainEqual([1, 3, 'transform']);
      expect(progress.updates.at(-1)).toEqual([3, 3, 'transform']);
    });

    it('follows a move task that is already running instead of failing', async () => {
      // Prepare
      const target = await open();
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '5' } });
      sqs.on(StartMessageMoveTaskCommand).rejects(Object.assign(new Error('There is already a task running.'), { name: 'UnsupportedOperation' }));
      sqs
        .on(ListMessageMoveTasksCommand)
        .resolvesOnce({ Results: [{ Status: 'RUNNING', TaskHandle: 'other', ApproximateNumberOfMessagesMoved: 2, ApproximateNumberOfMessagesToMove: 5 }] })
        .resolvesOnce({ Results: [{ Status: 'RUNNING', TaskHandle: 'other', ApproximateNumberOfMessagesMoved: 4, ApproximateNumberOfMessagesToMove: 5 }] })
        .resolves({ Results: [{ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 5, ApproximateNumberOfMessagesToMove: 5 }] });

      // Act
      const result = await target.redrive('orders', 'transform', recordingProgress());

      // Assess
      expect(result).toEqual({ flow: 'orders', moved: { transform: 5 }, total: 5, alreadyRunning: ['transform'] });
      expect(sqs).toHaveReceivedCommandTimes(GetQueueAttributesCommand, 1);
    });

    it("never reports an earlier task's counts as its own: it matches its task by handle, and fails when its task is never listed", async () => {
      // Prepare: the listing before the start fails; then only an earlier, completed task is listed, later ours (by handle).
      const target = await open();
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
      sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'mine' });
      const previous = { Status: 'COMPLETED', StartedTimestamp: 1, ApproximateNumberOfMessagesMoved: 7, ApproximateNumberOfMessagesToMove: 7 };
      sqs
        .on(ListMessageMoveTasksCommand)
        .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'RequestThrottled' }))
        .resolvesOnce({ Results: [previous] })
        .resolvesOnce({ Results: [{ Status: 'RUNNING', TaskHandle: 'mine', StartedTimestamp: 9, ApproximateNumberOfMessagesMoved: 2, ApproximateNumberOfMessagesToMove: 3 }] })
        .resolves({ Results: [{ Status: 'COMPLETED', StartedTimestamp: 9, ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 }] });

      // Act
      const matched = await target.redrive('orders', 'resolve', recordingProgress());
      sqs.on(ListMessageMoveTasksCommand).resolves({ Results: [previous] });
      const unlisted = await target.redrive('orders', 'resolve', recordingProgress());

      // Assess
      expect(matched).toEqual({ flow: 'orders', moved: { resolve: 3 }, total: 3 });
      expect(unlisted).toMatchObject({ moved: { resolve: 0 }, failed: { resolve: expect.stringMatching(/was not listed/) } });
    });

    it('reports a failed move task with its reason, and a refused start with the permission', async () => {
      // Prepare
      const target = await open();
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '2' } });
      sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h' });
      sqs
        .on(ListMessageMoveTasksCommand)
        .resolvesOnce({ Results: [] })
        .resolves({ Results: [{ Status: 'FAILED', StartedTimestamp: 5, FailureReason: 'AWS.SimpleQueueService.NonExistentQueue', ApproximateNumberOfMessagesMoved: 1 }] });

      // Act
      const failed = await target.redrive('orders', 'resolve', recordingProgress());
      sqs.on(StartMessageMoveTaskCommand).rejects(Object.assign(new Error('Access to the resource is denied.'), { name: 'AccessDenied' }));
      sqs.on(ListMessageMoveTasksCommand).resolves({ Results: [] });

      // Assess
      expect(failed).toEqual({ flow: 'orders', moved: { resolve: 1 }, total: 1, failed: { resolve: 'move task FAILED: AWS.SimpleQueueService.NonExistentQueue' } });
      await expect(target.redrive('orders', 'resolve', recordingProgress())).rejects.toThrow(/sqs:StartMessageMoveTask on arn:aws:sqs:eu-west-1:1:orders-resolve-dlq was refused/);
      await expect(target.redrive('orders', 'nope', recordingProgress())).rejects.toThrow('step must be one of transform, resolve');
    });
  });

  describe('capture functions', () => {
    it('runs a backfill chunk by invoking the source capture function', async () => {
      // Prepare
      const target = await open();
      const answer = { flow: 'orders', source: 'table', table: 't', segment: 1, totalSegments: 4, scanned: 10, sent: 10, filtered: 0, quarantined: 0, failed: 0, cursor: 'c2' };
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: Buffer.from(JSON.stringify(answer)) as never });

      // Act
      const chunk = await target.backfillChunk('orders', 'table', { segment: 1, totalSegments: 4, cursor: 'c1', maxItems: 10 });

      // Assess
      expect(chunk).toEqual(answer);
      expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'stack-orders-capture-table', InvocationType: 'RequestResponse' });
      const payload = JSON.parse(Buffer.from(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array).toString('utf8'));
      expect(payload).toEqual({ action: 'backfill', sourceId: 'table', segment: 1, totalSegments: 4, cursor: 'c1', maxItems: 10 });
    });

    it('turns a function error into its message', async () => {
      // Prepare
      const target = await open();
      lambda.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from(JSON.stringify({ errorType: 'Error', errorMessage: 'table gone' })) as never });

      // Act / Assess
      await expect(target.pull('orders', 'feed', { restart: true })).rejects.toThrow('stack-orders-capture-feed failed (Unhandled): table gone');
      const payload = JSON.parse(Buffer.from(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array).toString('utf8'));
      expect(payload).toEqual({ action: 'pull', sourceId: 'feed', restart: true });
    });

    it('refuses a source of the wrong type or one the flow does not have, without invoking anything', async () => {
      // Prepare
      const target = await open();

      // Act / Assess
      await expect(target.backfillChunk('orders', 'shop', { segment: 0, totalSegments: 1 })).rejects.toThrow('source "shop" of flow "orders" is a webhook source; only dynamodb-stream sources can be backfilled');
      await expect(target.pull('orders', 'table', {})).rejects.toThrow('is a dynamodb-stream source; only schedule sources can be pulled');
      await expect(target.pull('orders', 'ghost', {})).rejects.toThrow('flow "orders" has no source "ghost" (sources: table, feed, shop)');
      expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 0);
    });
  });
});
