import type { SourceConfig } from '../config/schema';
import type { Secrets } from '../ports';
import { messageOf, SynclineError } from '../core/errors';

type PullHttp = NonNullable<Extract<SourceConfig, { type: 'schedule' }>['http']>;
/** Credentials of an outgoing request, as pulls and `http` targets configure them. */
export type RequestAuthConfig = NonNullable<PullHttp['auth']>;
type OAuth2Config = Extract<RequestAuthConfig, { type: 'oauth2' }>;

/** Headers that authenticate a request, and a way to get fresh ones after a 401. */
export interface RequestAuth {
  headers(): Promise<Record<string, string>>;
  /** Drops a cached credential; true when asking again may succeed (OAuth2), so the caller retries once. */
  refresh(): boolean;
}

export interface RequestAuthOptions {
  readonly secrets: Secrets;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly now?: () => number;
  /** Token request time limit. @default 10000 */
  readonly timeoutMs?: number;
  /** Token fetches and refreshes are logged here, never with a secret or token. */
  readonly log?: (message: string, attributes: Record<string, unknown>) => void;
}

/** The error of a token endpoint (4xx, 5xx, not JSON, no access_token): never holds the secret. */
export class TokenError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** The `Authorization` header of a secret: a bearer token, or `user:password` for basic (JSON `{token}` / `{username, password}` work too). */
export function authorizationHeader(type: 'bearer' | 'basic', secret: string): string {
  let value = secret.trim();
  if (value.startsWith('{')) {
    try {
      const json = JSON.parse(value) as Record<string, unknown>;
      if (type === 'bearer' && typeof json.token === 'string') value = json.token;
      if (type === 'basic' && typeof json.username === 'string') value = `${json.username}:${String(json.password ?? '')}`;
    } catch {
      // a plain value that happens to start with '{'
    }
  }
  return type === 'bearer' ? `Bearer ${value}` : `Basic ${Buffer.from(value, 'utf8').toString('base64')}`;
}

export function requestAuth(auth: RequestAuthConfig | undefined, options: RequestAuthOptions): RequestAuth {
  if (!auth) return { headers: async () => ({}), refresh: () => false };
  switch (auth.type) {
    case 'bearer':
    case 'basic':
      return { headers: async () => ({ authorization: authorizationHeader(auth.type, await options.secrets.get(auth.secretName)) }), refresh: () => false };
    case 'header':
      return { headers: async () => ({ [auth.name.toLowerCase()]: (await options.secrets.get(auth.secretName)).trim() }), refresh: () => false };
    case 'oauth2': {
      const client = new ClientCredentials(auth, options);
      return {
        headers: async () => ({ authorization: `Bearer ${await client.token()}` }),
        refresh: () => {
          client.invalidate();
          return true;
        },
      };
    }
  }
}

interface CachedToken {
  readonly token: string;
  /** Absent when the answer had no `expires_in` (Salesforce): kept until a 401. */
  readonly until?: number;
}

/** Module scope: a warm Lambda container reuses its tokens across invocations. */
const tokens = new Map<string, CachedToken>();
/** Token requests in flight: concurrent callers share one. */
const pending = new Map<string, Promise<CachedToken>>();
/** Refresh this long before `expires_in` runs out. */
const EARLY_MS = 60_000;

/** Forgets every cached token (tests). */
export function clearTokenCache(): void {
  tokens.clear();
}

/** The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4), the token cached until shortly before it expires. */
class ClientCredentials {
  private readonly key: string;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;

  constructor(
    private readonly auth: OAuth2Config,
    private readonly options: RequestAuthOptions,
  ) {
    this.key = `${auth.tokenUrl}|${auth.secretName}|${auth.scope ?? ''}`;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  invalidate(): void {
    if (tokens.delete(this.key)) this.options.log?.('oauth2 token dropped after a 401; fetching a new one', { tokenUrl: this.auth.tokenUrl });
  }

  async token(): Promise<string> {
    const cached = tokens.get(this.key);
    if (cached && (cached.until === undefined || cached.until > this.now())) return cached.token;
    let request = pending.get(this.key);
    if (!request) {
      request = this.fetchToken().finally(() => pending.delete(this.key));
      pending.set(this.key, request);
    }
    const fetched = await request;
    tokens.set(this.key, fetched);
    return fetched.token;
  }

  private async fetchToken(): Promise<CachedToken> {
    const { tokenUrl, secretName, scope, clientAuth } = this.auth;
    const { clientId, clientSecret } = parseClient(await this.options.secrets.get(secretName), secretName);
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (clientAuth === 'basic') {
      // RFC 6749 2.3.1: both parts form-encoded before the base64.
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    let res: Response;
    try {
      res = await this.fetchImpl(tokenUrl, { method: 'POST', headers, body: form.toString(), redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (err) {
      throw new TokenError(`oauth2 token request to ${tokenUrl} failed: ${(err as Error).name}: ${messageOf(err)}`);
    }
    const text = await res.text();
    let body: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      body = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      // RFC 6749 5.2: `error` and `error_description` say why; they hold no credential.
      const why = body ? [body.error, body.error_description].filter((v) => typeof v === 'string').join(': ') : '';
      throw new TokenError(`oauth2 token request to ${tokenUrl} answered HTTP ${res.status}${why ? ` (${why.slice(0, 200)})` : ''}`);
    }
    if (!body) throw new TokenError(`oauth2 token endpoint ${tokenUrl} answered HTTP ${res.status} with a body that is not a JSON object`);
    if (typeof body.access_token !== 'string' || body.access_token === '') throw new TokenError(`oauth2 token endpoint ${tokenUrl} answered without an access_token`);
    const expiresIn = Number(body.expires_in);
    const until = Number.isFinite(expiresIn) && expiresIn > 0 ? this.now() + Math.max(expiresIn * 1000 - EARLY_MS, (expiresIn * 1000) / 2) : undefined;
    this.options.log?.('oauth2 token fetched', { tokenUrl, ...(until !== undefined ? { expiresInSeconds: expiresIn } : { expires: 'on a 401' }) });
    return { token: body.access_token, ...(until !== undefined ? { until } : {}) };
  }
}

function parseClient(secret: string, name: string): { clientId: string; clientSecret: string } {
  try {
    const json = JSON.parse(secret) as Record<string, unknown>;
    if (typeof json.clientId === 'string' && typeof json.clientSecret === 'string') return { clientId: json.clientId, clientSecret: json.clientSecret };
  } catch {
    // reported below, without the value
  }
  throw new TokenError(`secret "${name}" must be JSON {"clientId": "...", "clientSecret": "..."} for oauth2`);
}
