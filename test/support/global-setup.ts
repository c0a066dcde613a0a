import type { TestProject } from 'vitest/node';
import { startLocalServers } from '../../lib/local/servers';
import type {} from './local-servers';

/** Starts one DynamoDB Local and one fauxqs for the integration tests and stops them at teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers = await startLocalServers();
  project.provide('localEndpoints', { dynamodb: servers.dynamodb, sqs: servers.sqs, s3: servers.s3 });
  return async () => {
    await servers.stop();
  };
}
