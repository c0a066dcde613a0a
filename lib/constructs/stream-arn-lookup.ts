import { randomUUID } from 'node:crypto';
import { CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { ADMIN_ENTRY_FILES } from '../../functions/plan/plan';
import { projectEntry, SynclineFunction } from './function-defaults';

export interface StreamArnLookupProps {
  /** The source table, in the stack's account and region. */
  readonly tableName: string;
  /** `<flow>/<source>`, named in the deploy error when the table has no usable stream. */
  readonly source: string;
  readonly projectRoot: string;
}

/** One function and Provider per stack serve every lookup in it. */
class StreamArnLookupProvider extends Construct {
  static of(scope: Construct, projectRoot: string): StreamArnLookupProvider {
    const stack = Stack.of(scope);
    const id = 'SynclineStreamArnLookup';
    return (stack.node.tryFindChild(id) as StreamArnLookupProvider | undefined) ?? new StreamArnLookupProvider(stack, id, projectRoot);
  }

  readonly fn: SynclineFunction;
  readonly provider: Provider;
  readonly frameworkRole: Role;

  private constructor(scope: Construct, id: string, projectRoot: string) {
    super(scope, id);
    this.fn = new SynclineFunction(this, 'OnEvent', {
      description: "syncline: reads a dynamodb-stream source table's current stream ARN at deploy time",
      ...projectEntry(projectRoot, ADMIN_ENTRY_FILES['stream-arn-lookup']),
      timeout: Duration.seconds(30),
    });
    // The framework function gets a role that can write only to its own log group, not AWSLambdaBasicExecutionRole.
    const frameworkLogs = new LogGroup(this, 'FrameworkLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const frameworkOnEventRole = new Role(this, 'FrameworkRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    frameworkLogs.grantWrite(frameworkOnEventRole);
    this.frameworkRole = frameworkOnEventRole;
    this.provider = new Provider(this, 'Provider', { onEventHandler: this.fn, frameworkOnEventRole, logGroup: frameworkLogs });
  }
}

/**
 * The current stream ARN of a source table named by `tableName`, read with DescribeTable on every deploy, so a
 * stream that was disabled and enabled again (a new ARN) is picked up. A table that is missing, has no stream or
 * a stream without new images fails the deploy with a message that says what to run.
 */
export class StreamArnLookup extends Construct {
  readonly streamArn: string;
  readonly resource: CustomResource;
  /** The stack's lookup function: its role is the only one granted DescribeTable on source tables. */
  readonly function: SynclineFunction;
  readonly provider: Provider;
  /** The role of the Provider framework's function, which only invokes the lookup function and writes its logs. */
  readonly frameworkRole: Role;

  constructor(scope: Construct, id: string, props: StreamArnLookupProps) {
    super(scope, id);
    const shared = StreamArnLookupProvider.of(this, props.projectRoot);
    shared.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:DescribeTable'],
        resources: [Stack.of(this).formatArn({ service: 'dynamodb', resource: 'table', resourceName: props.tableName })],
      }),
    );
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: shared.provider.serviceToken,
      resourceType: 'Custom::SynclineStreamArn',
      // A value new at every synth makes CloudFormation run the lookup on every deploy; nothing else changes then.
      properties: { TableName: props.tableName, Source: props.source, Deployment: randomUUID() },
    });
    this.streamArn = this.resource.getAttString('StreamArn');
    this.function = shared.fn;
    this.provider = shared.provider;
    this.frameworkRole = shared.frameworkRole;
  }
}
