/** Where the admin API of the local runtime answers: `--url`, else SYNCLINE_URL, else the default port. */
export function adminUrl(flag?: string): string {
  return (flag ?? process.env.SYNCLINE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
}

/** A failed admin call, printed as one line (exit 1). */
export class AdminError extends Error {}

/** Calls the admin API and answers its JSON reply; HTTP errors and an unreachable runtime become AdminError. */
async function call(base: string, method: 'GET' | 'POST', path: string, init: RequestInit & { timeoutMs: number }): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { ...init, method, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new AdminError(`cannot reach syncline at ${base} (${cause}): start it with \`npm start\`, or pass --url / SYNCLINE_URL`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) {
    const message = (body as { message?: string } | undefined)?.message ?? (typeof body === 'string' ? body : '');
    throw new AdminError(`HTTP ${res.status} from ${method} ${path}${message ? `: ${message}` : ''}`);
  }
  return body;
}

/** GETs a JSON document from the admin API. */
export function getJson(base: string, path: string): Promise<unknown> {
  return call(base, 'GET', path, { timeoutMs: 30_000 });
}

/** POSTs a JSON body to the admin API; long operations (pulls, backfills) get a long timeout. */
export function postJson(base: string, path: string, payload?: unknown, timeoutMs = 15 * 60_000): Promise<unknown> {
  return call(base, 'POST', path, { headers: { 'content-type': 'application/json' }, body: payload === undefined ? '' : JSON.stringify(payload), timeoutMs });
}
