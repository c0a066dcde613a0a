import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // vitest's default is one worker fewer than the CPUs: one on two cores. Tests choose their own ports and
    // resource names, and spend much of their time waiting on local servers, so two run side by side.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // `include` is per project: with `extends`, arrays would be concatenated with the root's.
    // Unit and infra tests run without servers; integration shares one DynamoDB Local + fauxqs (globalSetup);
    // e2e starts the local runtime itself.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/integration/**', 'test/e2e/**'] },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts'] },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 60_000 },
      },
    ],
  },
});
