import type { Secrets } from '../ports';

/** Environment variable holding a secret locally: `SYNCLINE_SECRET_<NAME>` (NAME upper-cased, other chars `_`). */
export function secretEnvVar(name: string): string {
  return `SYNCLINE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export interface EnvSecretsOptions {
  /** Values by secret name (e.g. from `--secrets <file>`); they win over the environment. */
  readonly values?: Readonly<Record<string, string>>;
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Local secrets: a provided map, else `SYNCLINE_SECRET_<NAME>`. A missing one throws naming the variable. */
export class EnvSecrets implements Secrets {
  private readonly values: Readonly<Record<string, string>>;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(options: EnvSecretsOptions = {}) {
    this.values = options.values ?? {};
    this.env = options.env ?? process.env;
  }

  async get(name: string): Promise<string> {
    return this.getSync(name);
  }

  /** Synchronous read, for checking every secret at startup. */
  getSync(name: string): string {
    if (Object.hasOwn(this.values, name)) return this.values[name]!;
    const variable = secretEnvVar(name);
    const value = this.env[variable];
    if (value === undefined || value === '') {
      throw new Error(`secret "${name}" is not set: set the environment variable ${variable} or add "${name}" to the --secrets file`);
    }
    return value;
  }
}
