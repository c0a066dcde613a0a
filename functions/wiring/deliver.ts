import { createDeliverDynamoDbHandler } from '../handlers/deliver-dynamodb-handler';
import { createDeliverTargetHandler } from '../handlers/deliver-target-handler';
import { readingPacks } from '../handlers/packed-batch';
import type { BatchTargetWriter, TargetWriter } from '../ports';
import { auditLog, stateStore, telemetry, type StepContext } from './step-context';

/** Delivery to a DynamoDB target: the writer is a DynamoDbTargetWriter on the target's table; items DynamoDB refuses are parked in `dlqUrl`. */
export function deliverDynamoDb(ctx: StepContext, targetId: string, writer: TargetWriter, dlqUrl: string) {
  // The writer decides by the item's own marker and the tombstone it reads itself: no marker read per key here.
  const handler = createDeliverDynamoDbHandler({
    flow: ctx.flow,
    targetId,
    stateStore: stateStore(ctx, { markers: 'none' }),
    writer,
    audit: auditLog(ctx),
    park: { publisher: ctx.publisher, dlqUrl },
    ...telemetry(ctx),
  });
  return readingPacks(handler, ownQueue(ctx, targetId));
}

/** Delivery to an S3, EventBridge, HTTP or SQS target; records the API rejects are parked in `dlqUrl`. */
export function deliverTarget(ctx: StepContext, targetId: string, writer: BatchTargetWriter, dlqUrl: string) {
  const store = stateStore(ctx);
  const handler = createDeliverTargetHandler({
    flow: ctx.flow,
    targetId,
    stateStore: store,
    leases: store,
    audit: auditLog(ctx),
    writer,
    park: { publisher: ctx.publisher, dlqUrl },
    requeue: ownQueue(ctx, targetId),
    ...telemetry(ctx),
  });
  return readingPacks(handler, ownQueue(ctx, targetId));
}

/** Where the failed records of a pack go back: the delivery's own queue. */
const ownQueue = (ctx: StepContext, targetId: string) => ({ publisher: ctx.publisher, queueUrl: () => ctx.queueUrl(`deliver-${targetId}`) });
