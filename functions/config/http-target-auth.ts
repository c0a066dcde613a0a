import type { HttpTargetAuth } from './schema';

/** The credentials of an `http` target: `auth`, else `secretName` used as `authType`. Apart from the schema, so the functions read it without zod. */
export function httpTargetAuth(t: { auth?: HttpTargetAuth; secretName?: string; authType: 'bearer' | 'basic' | 'webhook' }): HttpTargetAuth | undefined {
  return t.auth ?? (t.secretName ? { type: t.authType, secretName: t.secretName } : undefined);
}
