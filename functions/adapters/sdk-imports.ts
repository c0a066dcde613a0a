import * as bundledEventBridge from './sdk/eventbridge';
import * as bundledS3 from './sdk/s3';
import * as bundledSecretsManager from './sdk/secrets-manager';

/*
 * SDK clients that a function either bundles or leaves to the Lambda runtime's SDK v3; the bundling says which with
 * esbuild define flags (`sdkImportDefines`, lib/constructs/function-bundling.ts).
 * - Bundled, a client comes through a module of ./sdk that names only the commands syncline sends, so the bundle
 *   holds just those; a dynamic import of the package would bundle every command and model of the service.
 * - Left to the runtime, the package is imported whole when first used: nothing of it loads at cold start. The flag
 *   is written out at each use so that esbuild drops the branch not taken; ./sdk/package.json marks its modules free
 *   of side effects, so the unused static import goes too.
 * Unbundled (tests, the local runtime) the flags are undefined and the package is imported.
 */
declare const __SYNCLINE_BUNDLES_S3__: boolean | undefined;
declare const __SYNCLINE_BUNDLES_SECRETS_MANAGER__: boolean | undefined;
declare const __SYNCLINE_BUNDLES_EVENTBRIDGE__: boolean | undefined;

export const importS3 = (): Promise<typeof import('./sdk/s3')> =>
  typeof __SYNCLINE_BUNDLES_S3__ !== 'undefined' && __SYNCLINE_BUNDLES_S3__ ? Promise.resolve(bundledS3) : import('@aws-sdk/client-s3');

export const importSecretsManager = (): Promise<typeof import('./sdk/secrets-manager')> =>
  typeof __SYNCLINE_BUNDLES_SECRETS_MANAGER__ !== 'undefined' && __SYNCLINE_BUNDLES_SECRETS_MANAGER__
    ? Promise.resolve(bundledSecretsManager)
    : import('@aws-sdk/client-secrets-manager');

export const importEventBridge = (): Promise<typeof import('./sdk/eventbridge')> =>
  typeof __SYNCLINE_BUNDLES_EVENTBRIDGE__ !== 'undefined' && __SYNCLINE_BUNDLES_EVENTBRIDGE__
    ? Promise.resolve(bundledEventBridge)
    : import('@aws-sdk/client-eventbridge');
