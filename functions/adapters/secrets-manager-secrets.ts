import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Clock, Secrets } from '../ports';
import { systemClock } from '../ports';
import { importSecretsManager } from './sdk-imports';

export interface SecretsManagerSecretsOptions {
  readonly client: SecretsManagerClient;
  readonly clock?: Clock;
}

/** How long a value is reused by the container: 5 minutes. */
const TTL_MS = 300_000;

/** Secrets from Secrets Manager (name or ARN), cached per container. */
export class SecretsManagerSecrets implements Secrets {
  private readonly client: SecretsManagerClient;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { value: Promise<string>; expires: number }>();

  constructor(options: SecretsManagerSecretsOptions) {
    this.client = options.client;
    this.clock = options.clock ?? systemClock;
  }

  get(name: string): Promise<string> {
    const now = this.clock.now();
    const hit = this.cache.get(name);
    if (hit && hit.expires > now) return hit.value;
    const value = this.fetch(name);
    this.cache.set(name, { value, expires: now + TTL_MS });
    // A failed read is not cached: the next call asks again.
    value.catch(() => {
      if (this.cache.get(name)?.value === value) this.cache.delete(name);
    });
    return value;
  }

  private async fetch(name: string): Promise<string> {
    // Imported when used: a function that reads no secret at cold start leaves Secrets Manager to the Lambda runtime's SDK.
    const { GetSecretValueCommand } = await importSecretsManager();
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
    if (out.SecretString !== undefined) return out.SecretString;
    if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
    throw new Error(`secret ${name} has no value`);
  }
}
