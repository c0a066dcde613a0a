import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import type { TableStreamInfo } from '../ports';

export interface StreamArnLookupDeps {
  /** DescribeTable, reduced to the stream: undefined when the table does not exist. */
  readonly describe: (tableName: string) => Promise<TableStreamInfo | undefined>;
  readonly region: string;
}

/** The answer the CDK Provider framework passes back to CloudFormation. */
export interface StreamArnLookupResult {
  readonly PhysicalResourceId: string;
  readonly Data?: { readonly StreamArn: string };
}

// The capture maps INSERT/MODIFY from NewImage and REMOVE from Keys or OldImage (functions/core/capture/dynamodb-stream.ts).
const USABLE_VIEW_TYPES = new Set(['NEW_AND_OLD_IMAGES', 'NEW_IMAGE']);

/**
 * The onEvent handler of a dynamodb-stream source's deploy-time lookup: reads the table's current stream ARN, or
 * fails the deploy with what to do. The error text is what CloudFormation shows as the resource's status reason.
 */
export function createStreamArnLookupHandler(deps: StreamArnLookupDeps) {
  return async (event: CloudFormationCustomResourceEvent): Promise<StreamArnLookupResult> => {
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
    const { TableName: tableName, Source: source } = event.ResourceProperties as unknown as { TableName: string; Source: string };
    const enable = `aws dynamodb update-table --region ${deps.region} --table-name ${tableName} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES`;
    const info = await deps.describe(tableName);
    if (!info) throw new Error(`syncline source ${source}: table "${tableName}" does not exist in ${deps.region}; create it, or name the right table in the source's tableName`);
    if (!info.streamEnabled || !info.streamArn) throw new Error(`syncline source ${source}: table "${tableName}" has no stream; turn it on (${enable}) and deploy again`);
    if (!USABLE_VIEW_TYPES.has(info.viewType ?? '')) {
      throw new Error(`syncline source ${source}: the stream of table "${tableName}" is ${info.viewType ?? 'of no view type'}, which carries no new item image; it must be NEW_AND_OLD_IMAGES (or NEW_IMAGE): disable it and enable it again with ${enable}`);
    }
    return { PhysicalResourceId: `${tableName}-stream-arn`, Data: { StreamArn: info.streamArn } };
  };
}
