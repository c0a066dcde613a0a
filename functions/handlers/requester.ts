import { refine, string, type Shape } from '../core/shape';

/** Names under `syncline:` are kept for syncline's own actions (e.g. `syncline:auto-resolve`). */
const RESERVED = 'syncline:';
const RESERVED_MESSAGE = 'names starting with "syncline:" are reserved for syncline itself';

/** A body's `by`: who the caller says asks. */
export const byField = (max: number): Shape<string> => refine(string({ trim: true, min: 1, max }), (by) => !by.startsWith(RESERVED), RESERVED_MESSAGE);

/**
 * Who asks for an admin action: the authenticated caller (IAM in AWS), with a body's `by` added as `(as <by>)`;
 * locally `by`, else the `x-syncline-user` header, else `local`. An error answer when it cannot be told.
 */
export function requester(authenticated: boolean, user: string | undefined, asked: string | undefined): { by: string } | { status: number; message: string } {
  const caller = user?.trim();
  if (authenticated && !caller) return { status: 401, message: 'the request carries no caller identity' };
  if (!authenticated && asked === undefined && caller?.startsWith(RESERVED)) return { status: 400, message: `header x-syncline-user: ${RESERVED_MESSAGE}` };
  if (authenticated) return { by: asked && asked !== caller ? `${caller} (as ${asked})` : caller! };
  return { by: asked ?? (caller || 'local') };
}
