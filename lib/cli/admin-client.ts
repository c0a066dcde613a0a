/** Where the admin API of the local runtime answers: `--url`, else SYNCLINE_URL, else the default port. */
export function adminUrl(flag?: string): string {
  return (flag ?? process.env.SYNCLINE_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
}

/** A failed admin call, printed as one line (exit 1). */
export class AdminError extends Error {}

/** GETs a JSON document from the admin API; HTTP errors and an unreachable runtime become AdminError. */
export async function getJson(base: string, path: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(30_000) });
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
    throw new AdminError(`HTTP ${res.status} from GET ${path}${message ? `: ${message}` : ''}`);
  }
  return body;
}

/** POSTs a JSON body to the admin API and answers the JSON reply; errors as in getJson. */
export async function postJson(base: string, path: string, payload?: unknown, timeoutMs = 15 * 60_000): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: payload === undefined ? '' : JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
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
    throw new AdminError(`HTTP ${res.status} from POST ${path}${message ? `: ${message}` : ''}`);
  }
  return body;
}
