import type { IncomingHttpHeaders } from 'node:http';

/** Why a request to the local admin API is refused. */
export interface Refusal {
  readonly status: 400 | 403 | 415;
  readonly message: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `host[:port]` split; undefined when malformed. */
function hostAndPort(value: string): { host: string; port?: string } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(value.trim());
  return m ? { host: m[1]!.toLowerCase(), ...(m[2] ? { port: m[2] } : {}) } : undefined;
}

/**
 * A loopback name with this server's port. `Host` may leave the port out: the name is what DNS rebinding changes.
 * An `Origin` without one means port 80, another server's, unless we are on 80.
 */
function isOwnAuthority(value: string, port: number, portOptional = false): boolean {
  const hp = hostAndPort(value);
  if (!hp || !LOOPBACK_HOSTS.has(hp.host)) return false;
  if (hp.port === undefined && portOptional) return true;
  return (hp.port ?? '80') === String(port);
}

/**
 * Guards the local admin API against a web page in the user's browser: DNS rebinding (a `Host` that is not a
 * loopback name with our port), cross-site requests (an `Origin` that is not this server's own) and writes a
 * page can send without a CORS preflight (form and `text/plain` bodies). The CLI and curl send none of those.
 * Webhook routes are not guarded: senders post their own content types, through tunnels with their own `Host`,
 * and are authenticated by signature.
 */
export function refuseAdminRequest(method: string, headers: IncomingHttpHeaders, port: number, rawHeaders: readonly string[] = []): Refusal | undefined {
  // Node keeps the first of several Host headers; a request with more than one is malformed (RFC 9112 §3.2).
  if (rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length > 1) return { status: 400, message: 'the request has more than one Host header' };
  const host = headers.host;
  if (!host || !isOwnAuthority(host, port, true)) {
    return { status: 403, message: `Host "${host ?? ''}" is not this server: the local admin API answers only on 127.0.0.1, localhost or [::1] (port ${port})` };
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let own = false;
    try {
      const u = new URL(origin);
      own = u.protocol === 'http:' && isOwnAuthority(u.host, port);
    } catch {
      own = false;
    }
    if (!own) return { status: 403, message: `cross-origin request refused: Origin "${origin}" is not this server (http://127.0.0.1:${port})` };
  }
  if (READS.has(method.toUpperCase())) return undefined;
  const type = headers['content-type'];
  const hasBody = (headers['content-length'] !== undefined && headers['content-length'] !== '0') || headers['transfer-encoding'] !== undefined;
  if (type === undefined ? hasBody : !JSON_TYPE.test(type)) {
    return { status: 415, message: `${method.toUpperCase()} on the admin API takes a JSON body: send "content-type: application/json"${type ? ` (got "${type}")` : ''}` };
  }
  return undefined;
}
