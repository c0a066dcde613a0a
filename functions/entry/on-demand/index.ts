import { regionOfArn } from '../../adapters/clients';
import { EventBridgeEventPublisher } from '../../adapters/eventbridge-event-publisher';
import { lambdaContinuation } from '../../adapters/lambda-continuation';
import { S3PayloadStore } from '../../adapters/s3-payload-store';
import { importEventBridge, importS3, importSecretsManager } from '../../adapters/sdk-imports';
import { SecretsManagerSecrets } from '../../adapters/secrets-manager-secrets';
import type { EventPublisher, PayloadStore, Secrets } from '../../ports';

/*
 * AWS clients that some invocations need (claim checks are rare; most steps read no secret), created when first
 * used. A function bundles such a client only when it needs it at every cold start; otherwise the client is left to
 * the Lambda runtime's SDK v3, and none of it is loaded until used (lib/constructs/function-bundling.ts decides).
 * They are imported through adapters/sdk-imports.ts; a function that leaves one to the runtime may import none of
 * its values statically.
 */

/** The claim-check store on S3 bucket `bucket`. */
export function onDemandPayloadStore(bucket: string): PayloadStore {
  let store: Promise<PayloadStore> | undefined;
  const load = () =>
    (store ??= importS3().then(
      ({ S3Client }) => new S3PayloadStore({ client: new S3Client({}), bucket }),
    ));
  return {
    put: async (body) => (await load()).put(body),
    get: async (pointer) => (await load()).get(pointer),
    delete: async (pointer) => (await load()).delete(pointer),
  };
}

/** A new S3 client, for a function that reads S3 on every invocation. */
export async function s3Client() {
  const { S3Client } = await importS3();
  return new S3Client({});
}

/** Secrets Manager secrets, cached per container; `preload` loads the client now, for a step that reads a secret at every cold start. */
export function onDemandSecrets(options: { preload?: boolean } = {}): Secrets {
  let secrets: Promise<Secrets> | undefined;
  const load = () =>
    (secrets ??= importSecretsManager().then(
      ({ SecretsManagerClient }) => new SecretsManagerSecrets({ client: new SecretsManagerClient({}) }),
    ));
  if (options.preload) void load();
  return { get: async (name) => (await load()).get(name) };
}

/** Continues a pull in a new invocation of `functionName`: the Lambda client is loaded when a run first continues. */
export function onDemandContinuation(functionName: string): (input: Record<string, unknown>) => Promise<void> {
  let continuation: Promise<(input: Record<string, unknown>) => Promise<void>> | undefined;
  const load = () =>
    (continuation ??= import('@aws-sdk/client-lambda').then(({ LambdaClient }) =>
      lambdaContinuation(new LambdaClient({}), functionName),
    ));
  return async (input) => (await load())(input);
}

/** The publisher of conflict events on bus `busName` (a name, or an ARN of another region), for a flow that announces conflicts. */
export async function eventBridgePublisher(busName: string): Promise<EventPublisher> {
  const { EventBridgeClient, PutEventsCommand } = await importEventBridge();
  const region = regionOfArn(busName);
  const client = new EventBridgeClient(region ? { region } : {});
  return new EventBridgeEventPublisher({ putter: { putEvents: (entries) => client.send(new PutEventsCommand({ Entries: [...entries] })) }, busName });
}
