import { messageOf, SynclineError } from '../../functions/core/errors';
/** Where the admin API of the local runtime answers: `--url`, else SYNCLINE_URL (when not empty), else the default port. */
export function adminUrl(flag?: string): string {
  return (flag ?? (process.env.SYNCLINE_URL || 'http://127.0.0.1:3000')).replace(/\/+$/, '');
}

/** A failed admin call or operation, printed as one line (exit 1; 2 when the API refused the request as malformed). */
export class AdminError extends SynclineError {
  override readonly name = 'AdminError';
  constructor(
    message: string,
    /** The HTTP status the admin API answered, when it answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An HTTP answer with its body parsed as JSON (or kept as text when it is not JSON). */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The request could not be sent or answered (refused connection, DNS, timeout); `reason` is the short cause. */
export class UnreachableError extends SynclineError {
  override readonly name = 'UnreachableError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Reads and parses an answer. */
async function answerOf(res: Response): Promise<JsonAnswer> {
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Sends one request; network failures become UnreachableError. */
export async function fetchJson(url: string, init: { method: string; headers?: Record<string, string>; body?: string; timeoutMs: number }): Promise<JsonAnswer> {
  let res: Response;
  try {
    res = await fetch(url, { method: init.method, headers: init.headers, body: init.body, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (err) {
    throw new UnreachableError((err as { cause?: { code?: string } }).cause?.code ?? messageOf(err));
  }
  return answerOf(res);
}

/** The message of an error answer: its `message` field, or its text. */
export function answerMessage(body: unknown): string {
  const message = (body as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string') return message;
  if (typeof body !== 'string' || body.trim() === '') return '';
  // A text answer (an HTML error page of a proxy or of another server at that address) is shown on one line, cut.
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/** An error answer as one line. */
export function httpError(method: string, path: string, answer: JsonAnswer): AdminError {
  const message = answerMessage(answer.body);
  return new AdminError(`HTTP ${answer.status} from ${method} ${path}${message ? `: ${message}` : ''}`, answer.status);
}

/** Time limits: reads are quick; POSTs may run a pull or a backfill chunk. */
export const GET_TIMEOUT_MS = 30_000;
export const POST_TIMEOUT_MS = 15 * 60_000;
