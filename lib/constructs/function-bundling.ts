import { _ } from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { httpTargetAuth } from '../../functions/config/http-target-auth';
import { pullKeysSealed } from '../../functions/core/pull/pull-keys';
import { flowSchema, type FlowConfig } from '../../functions/config/schema';
import { schemaAjv } from '../../functions/core/transform/json-schema';
import { hasDebeziumSource, isManualFlow } from '../../functions/plan/flow-traits';
import type { FunctionPlan } from '../../functions/plan/plan';

/*
 * What each function's bundle holds. The AWS SDK v3 is bundled, pinned, for what a function calls on every cold
 * start: loading one minified file is faster than resolving the runtime's SDK package by package. What a function
 * calls only now and then, or never, is left to the SDK v3 of the Lambda Node.js runtime and imported when first used.
 */

/**
 * The default credential chain's providers after the environment one. Lambda sets AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY, which the (bundled) environment provider reads first; the chain imports the others
 * dynamically, so they are never loaded in Lambda.
 */
export const UNREACHED_CREDENTIAL_MODULES: readonly string[] = [
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/token-providers',
  '@aws-sdk/nested-clients',
  '@smithy/credential-provider-imds',
];

const S3 = '@aws-sdk/client-s3';
const SDK_EVENT_STREAMS = '@smithy/core/event-streams';
const SECRETS_MANAGER = '@aws-sdk/client-secrets-manager';
const EVENTBRIDGE = '@aws-sdk/client-eventbridge';

/** SDK clients the functions only import dynamically, when an invocation needs them (functions/entry/on-demand). */
export const ON_DEMAND_CLIENTS: readonly string[] = [S3, SECRETS_MANAGER, '@aws-sdk/client-ssm', '@aws-sdk/client-lambda', EVENTBRIDGE];

/** A flow's step function, or a function of the stack's admin API. */
export type BundledFunction = Pick<FunctionPlan, 'handler' | 'sourceId' | 'targetId'> | { readonly handler: 'admin' | 'list-flows' | 'stream-arn-lookup' };

/** The on-demand clients `fn` calls at every cold start, so it bundles them. */
export function coldStartClients(flow: FlowConfig | undefined, fn: BundledFunction): string[] {
  const source = 'sourceId' in fn ? flow?.sources.find((s) => s.id === fn.sourceId) : undefined;
  const target = 'targetId' in fn ? flow?.targets.find((t) => t.id === fn.targetId) : undefined;
  switch (fn.handler) {
    case 'webhook-capture':
    case 'transform':
      return [SECRETS_MANAGER];
    case 'schedule-capture':
      return source?.type === 'schedule'
        ? [...(source.s3 ? [S3] : []), ...(source.http?.auth || (flow && pullKeysSealed(flow, source)) ? [SECRETS_MANAGER] : [])]
        : [];
    case 'deliver-s3':
      return [S3];
    case 'deliver-eventbridge':
      return [EVENTBRIDGE];
    case 'deliver-http':
      return target?.type === 'http' && httpTargetAuth(target) ? [SECRETS_MANAGER] : [];
    case 'resolve':
      // Conflicts of a manual flow are announced on EventBridge (EVENT_BUS_NAME).
      return flow !== undefined && isManualFlow(flow) ? [EVENTBRIDGE] : [];
    default:
      return [];
  }
}

/** The flags of functions/adapters/sdk-imports.ts: which on-demand clients `bundled` names (the others are the runtime's). */
export function sdkImportDefines(bundled: readonly string[]): Record<string, string> {
  return {
    __SYNCLINE_BUNDLES_S3__: String(bundled.includes(S3)),
    __SYNCLINE_BUNDLES_SECRETS_MANAGER__: String(bundled.includes(SECRETS_MANAGER)),
    __SYNCLINE_BUNDLES_EVENTBRIDGE__: String(bundled.includes(EVENTBRIDGE)),
  };
}

/**
 * Flags that leave out of a flow's bundles the libraries only some features need. Code reads each where it uses the
 * library, as `typeof FLAG === 'undefined' || FLAG`, so esbuild drops the branch and the import; unbundled, all is in.
 */
export function featureDefines(flow: FlowConfig): Record<string, string> {
  const httpTargets = flow.targets.filter((t) => t.type === 'http');
  return {
    // fast-xml-parser (functions/core/webhook/webhook-body.ts)
    __SYNCLINE_READS_XML__: String(flow.sources.some((s) => s.type === 'webhook' && s.format === 'salesforce-outbound')),
    // the Debezium change-event reader (functions/handlers/webhook-capture-handler.ts, try-record.ts)
    __SYNCLINE_READS_DEBEZIUM__: String(hasDebeziumSource(flow)),
    // the S3 object reader and csv-parse (functions/adapters/pull-readers.ts)
    __SYNCLINE_READS_S3_OBJECTS__: String(flow.sources.some((s) => s.type === 'schedule' && s.s3 !== undefined)),
    // JSONata and the Standard Webhooks signer of http targets (functions/adapters/http-target-writer.ts)
    __SYNCLINE_HTTP_BODY_EXPRESSIONS__: String(httpTargets.some((t) => t.body !== undefined || t.create?.body !== undefined)),
    __SYNCLINE_SIGNS_WEBHOOKS__: String(httpTargets.some((t) => httpTargetAuth(t)?.type === 'webhook')),
  };
}

/** The modules `fn`'s bundle leaves to the Lambda runtime's SDK v3. */
export function runtimeSdkModules(flow: FlowConfig | undefined, fn: BundledFunction): string[] {
  const bundled = coldStartClients(flow, fn);
  // The SDK's protocols import event-stream support dynamically, only for operations that stream (none syncline sends).
  // Bundled, it would add 20 KB and make esbuild wrap every module it shares with the clients in a lazy initializer.
  // The S3 client imports it statically (SelectObjectContent), so a function that bundles S3 bundles it too.
  const eventStreams = bundled.includes(S3) ? [] : [SDK_EVENT_STREAMS];
  return [...UNREACHED_CREDENTIAL_MODULES, ...eventStreams, ...ON_DEMAND_CLIENTS.filter((m) => !bundled.includes(m))];
}

/** ajv standalone code of a transform's JSON Schema, run by functions/core/transform/precompiled-schema.ts. */
export function precompiledSchemaCode(schema: Record<string, unknown>): string {
  const ajv = schemaAjv(schema, { code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` } });
  return standaloneCode(ajv, ajv.compile(schema));
}

/**
 * Bundling of a function of `flow`: the flow baked in as the config schema outputs it (defaults applied, so the
 * function reads it without the schema), for the transform its JSON Schema compiled, and the SDK modules left to
 * the runtime.
 */
export function flowFunctionBundling(flow: FlowConfig, fn: BundledFunction): BundlingOptions {
  const parsed = flowSchema.parse(flow);
  const schema = fn.handler === 'transform' || fn.handler === 'admin' ? parsed.transform.schema : undefined;
  return {
    define: {
      __SYNCLINE_FLOW__: JSON.stringify(parsed),
      ...sdkImportDefines(coldStartClients(flow, fn)),
      ...featureDefines(parsed),
      ...(schema ? { __SYNCLINE_SCHEMA_VALIDATOR__: JSON.stringify(precompiledSchemaCode(schema)) } : {}),
    },
    externalModules: runtimeSdkModules(flow, fn),
  };
}

/** Bundling of the stack's flow list: every flow baked in (`__SYNCLINE_FLOWS__`). */
export function flowListBundling(flows: readonly FlowConfig[]): BundlingOptions {
  return { define: { __SYNCLINE_FLOWS__: JSON.stringify(flows.map((f) => flowSchema.parse(f))) }, externalModules: runtimeSdkModules(undefined, { handler: 'list-flows' }) };
}
