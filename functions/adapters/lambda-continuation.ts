import type { LambdaClient } from '@aws-sdk/client-lambda';

/**
 * Continues a long pull in a fresh invocation of the same function: an asynchronous (`Event`) self-invoke,
 * so the chain never holds a caller open. The handler bounds how often one run chains.
 */
export function lambdaContinuation(client: LambdaClient, functionName: string): (input: Record<string, unknown>) => Promise<void> {
  return async (input) => {
    // Imported when a run first continues: the Lambda runtime's SDK serves it (lib/constructs/function-bundling.ts).
    const { InvokeCommand } = await import('@aws-sdk/client-lambda');
    await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(input)) }));
  };
}
