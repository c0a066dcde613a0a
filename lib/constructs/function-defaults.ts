import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode, type BundlingOptions, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { UNREACHED_CREDENTIAL_MODULES } from './function-bundling';

/** Lets bundled CommonJS dependencies call `require` inside the ESM bundle. */
export const ESM_REQUIRE_BANNER = "import { createRequire as __syncline_createRequire } from 'node:module'; const require = __syncline_createRequire(import.meta.url);";

/** The newest Node.js runtime this aws-cdk-lib offers. */
export const SYNCLINE_RUNTIME = Runtime.NODEJS_24_X;

/** Bundling defaults every syncline function starts from. */
export const DEFAULT_BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  banner: ESM_REQUIRE_BANNER,
  // Prefer packages' ESM builds so tree-shaking works on the SDK and Powertools.
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  sourceMapMode: SourceMapMode.DEFAULT,
  sourcesContent: false,
  target: 'node24',
  // esbuild's size lines per function drown synth's output; its warnings and errors still show.
  logLevel: LogLevel.WARNING,
  // Bundle the AWS SDK v3 (the pinned versions of package-lock.json), but for the credential providers Lambda never
  // reaches; a step function also leaves the clients it seldom calls to the runtime (function-bundling.ts).
  externalModules: [...UNREACHED_CREDENTIAL_MODULES],
  forceDockerBundling: false,
};

/** Where a function's code is: an entry file of the project, bundled with the project's lock file. */
export function projectEntry(projectRoot: string, entryFile: string): Pick<NodejsFunctionProps, 'entry' | 'projectRoot' | 'depsLockFilePath'> {
  return { entry: join(projectRoot, entryFile), projectRoot, depsLockFilePath: join(projectRoot, 'package-lock.json') };
}

/** Props of {@link SynclineFunction}: every NodejsFunction prop, with syncline's defaults. */
export interface SynclineFunctionProps extends NodejsFunctionProps {
  /**
   * Retention of the function's log group; ignored when `logGroup` is given.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logGroupRetention?: RetentionDays;
  /**
   * Removal policy of the log group created for the function; ignored when `logGroup` is given.
   * @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
   */
  readonly logGroupRemovalPolicy?: RemovalPolicy;
}

/**
 * Merges syncline's function defaults under the caller's props, then checks what the construct requires.
 * Nested `bundling` and `environment` are merged key by key; a caller's value always wins over a default,
 * and a caller's value that breaks a requirement is refused with an error instead of being overwritten.
 */
export function mergeFunctionProps(props: NodejsFunctionProps): NodejsFunctionProps {
  const bundling: BundlingOptions = { ...DEFAULT_BUNDLING, ...props.bundling, define: { ...props.bundling?.define } };
  if (bundling.forceDockerBundling) throw new Error('SynclineFunction: bundling.forceDockerBundling is not supported; esbuild is a devDependency and bundles locally');
  if (bundling.format !== OutputFormat.ESM) throw new Error('SynclineFunction: bundling.format must be OutputFormat.ESM (the banner and the handlers are ES modules)');
  return {
    runtime: SYNCLINE_RUNTIME,
    architecture: Architecture.ARM_64,
    tracing: Tracing.ACTIVE,
    loggingFormat: LoggingFormat.JSON,
    timeout: Duration.seconds(30),
    memorySize: 256,
    ...props,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    bundling,
  };
}

/**
 * A NodejsFunction with syncline's defaults: Node.js 24 on ARM64, a JSON-format log group with one month's
 * retention, active X-Ray tracing, a 30 s timeout and 256 MB, and a local esbuild ESM bundle (minified, with
 * source maps, the AWS SDK bundled but for the credential providers Lambda never reaches). Every default can be
 * overridden through the props.
 */
export class SynclineFunction extends NodejsFunction {
  /** The log group this construct created, or undefined when the caller passed `logGroup`. */
  public readonly functionLogGroup: LogGroup | undefined;

  constructor(scope: Construct, id: string, props: SynclineFunctionProps) {
    const { logGroupRetention, logGroupRemovalPolicy, ...rest } = props;
    // The log group and role must exist before super(), so they are siblings of the function rather than children.
    const logGroup =
      rest.logGroup ??
      new LogGroup(scope, `${id}Logs`, {
        retention: logGroupRetention ?? RetentionDays.ONE_MONTH,
        removalPolicy: logGroupRemovalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      });
    // Our own role, so the function can write only to its log group instead of getting AWSLambdaBasicExecutionRole.
    const role = rest.role ?? new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    if (!rest.role && 'grantWrite' in logGroup && typeof logGroup.grantWrite === 'function') (logGroup as LogGroup).grantWrite(role);
    super(scope, id, mergeFunctionProps({ ...rest, logGroup, role }));
    this.functionLogGroup = rest.logGroup ? undefined : (logGroup as LogGroup);
  }
}
