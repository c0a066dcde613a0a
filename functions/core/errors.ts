/** Base of syncline's own errors: each subclass names itself, and may carry the error that caused it. */
export class SynclineError extends Error {
  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    this.name = 'SynclineError';
  }
}

/** The message of anything thrown: an Error's message, a string as it is, else what it turns into as text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
