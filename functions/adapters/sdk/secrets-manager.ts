// The Secrets Manager client and the command syncline sends (see ../sdk-imports.ts).
export { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
