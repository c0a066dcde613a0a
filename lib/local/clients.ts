import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

export const LOCAL_REGION = 'us-east-1';
/** Local servers accept any credentials; fixed ones keep the SDK from searching the machine for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export interface LocalEndpoints {
  readonly dynamodb: string;
  readonly sqs: string;
  readonly s3: string;
}

/** SDK clients pointed at the local servers, shaped like the module-scope clients of the Lambda entries. */
export interface LocalClients {
  readonly dynamodb: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  destroy(): void;
}

export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 };
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb });
  const doc = DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  const sqs = new SQSClient({ ...common, endpoint: endpoints.sqs });
  const s3 = new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true });
  return {
    dynamodb,
    doc,
    sqs,
    s3,
    destroy() {
      doc.destroy();
      dynamodb.destroy();
      sqs.destroy();
      s3.destroy();
    },
  };
}
