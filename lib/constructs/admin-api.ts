import { CfnOutput, Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import { HttpMethod, HttpRoute, HttpRouteKey, type IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { DeployedNames } from '../../functions/entry/deployed-resources';
import { flowServiceName } from '../../functions/wiring/contract';
import { ADMIN_ENTRY_FILES } from '../../functions/plan/plan';
import { fitEnvironment } from './environment-budget';
import { flowFunctionBundling } from './function-bundling';
import { projectEntry, SynclineFunction } from './function-defaults';
import { grantAdmin, type StepGrantContext } from './step-grants';
import type { SyncFlow } from './sync-flow';
import type { SyncStore } from './sync-store';

export interface AdminApiOptions {
  readonly httpApi: IHttpApi;
  readonly store: SyncStore;
  readonly projectRoot: string;
  readonly removalPolicy: RemovalPolicy;
  /** The store tables' names, as every function of the flow gets them. */
  readonly tableEnv: Readonly<Record<string, string>>;
  readonly grants: StepGrantContext;
}

/**
 * The flow's admin API: one function serving `GET /flows/<flow>` and `GET|POST /flows/<flow>/{proxy+}` behind
 * IAM authorization, with the deployed names of the flow's resources in its environment: names only (URLs and
 * ARNs are built from the SQS prefixes, and DLQs read from each queue's RedrivePolicy), which keeps even a flow
 * with many targets inside Lambda's 4 KB of variables.
 */
export function addAdminApi(scope: SyncFlow, options: AdminApiOptions): { fn: SynclineFunction; routes: HttpRoute[] } {
  const { httpApi, store, projectRoot, removalPolicy, tableEnv } = options;
  const flow = scope.flowPlan.flow;
  const stack = Stack.of(scope);
  const names: DeployedNames = {
    queues: Object.fromEntries(Object.entries(scope.queues).map(([id, q]) => [id, q.queueName])),
    functions: Object.fromEntries(Object.entries(scope.functions).map(([id, fn]) => [id, fn.functionName])),
    targetTables: Object.fromEntries(Object.entries(scope.targetTables).map(([id, t]) => [id, t.tableName])),
    targetBuckets: Object.fromEntries(Object.entries(scope.targetBuckets).map(([id, b]) => [id, b.bucketName])),
    webhookSecrets: Object.fromEntries(Object.entries(scope.webhookSecrets).map(([id, s]) => [id, s.secretArn])),
    streamFailureQueues: Object.fromEntries(Object.entries(scope.streamFailureQueues).map(([id, q]) => [id, q.queueName])),
  };
  const fn = new SynclineFunction(scope, 'admin', {
    description: `syncline ${flow.id}: admin API (IAM-authorized)`,
    ...projectEntry(projectRoot, ADMIN_ENTRY_FILES.admin),
    // API Gateway gives an integration at most 30 s.
    timeout: Duration.seconds(29),
    memorySize: 256,
    logGroupRemovalPolicy: removalPolicy,
    bundling: flowFunctionBundling(flow, { handler: 'admin' }),
  });
  const environment = fitEnvironment(
    fn,
    {
      ...tableEnv,
      POWERTOOLS_SERVICE_NAME: flowServiceName(flow.id),
      FLOW_RESOURCES: stack.toJsonString(names),
      SQS_URL_PREFIX: `https://sqs.${stack.region}.${stack.urlSuffix}/${stack.account}/`,
      SQS_ARN_PREFIX: `arn:${stack.partition}:sqs:${stack.region}:${stack.account}:`,
      API_ENDPOINT: httpApi.apiEndpoint,
      HASH_KEY_SECRET_ARN: store.hashKeySecret.secretArn,
      PAYLOAD_BUCKET: store.payloadBucket.bucketName,
    },
    ['FLOW_RESOURCES'],
    `flow "${flow.id}" admin function`,
  );
  for (const [k, v] of Object.entries(environment)) fn.addEnvironment(k, v);

  grantAdmin(options.grants, fn);

  const authorizer = new HttpIamAuthorizer();
  // One invoke permission for the function (API-scoped) instead of one per route: only this flow's admin routes target it.
  const integration = new HttpLambdaIntegration('admin-integration', fn, { scopePermissionToRoute: false });
  const route = (id: string, path: string, method: HttpMethod) =>
    new HttpRoute(scope, id, { httpApi, routeKey: HttpRouteKey.with(path, method), integration, authorizer });
  const routes = [
    route('admin-route-flow', `/flows/${flow.id}`, HttpMethod.GET),
    route('admin-route-get', `/flows/${flow.id}/{proxy+}`, HttpMethod.GET),
    route('admin-route-post', `/flows/${flow.id}/{proxy+}`, HttpMethod.POST),
  ];
  new CfnOutput(scope, 'admin-url', {
    description: `syncline ${flow.id}: admin API (IAM-authorized, SigV4 service execute-api)`,
    value: `${httpApi.apiEndpoint}/flows/${flow.id}`,
  });
  return { fn, routes };
}
