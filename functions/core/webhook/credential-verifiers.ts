import { accept, refuse, safeEqual, type WebhookRequest, type WebhookVerifier } from './verifier';

const idOf = (request: WebhookRequest, idHeader?: string) => (idHeader ? request.headers[idHeader.toLowerCase()] || undefined : undefined);

/** A static shared secret in a header (`Authorization: Bearer <secret>`, or the bare secret in any other) or a query parameter. */
export function tokenVerifier(options: { readonly header?: string; readonly query?: string; readonly idHeader?: string }): WebhookVerifier {
  const header = options.header?.toLowerCase();
  const bearer = header === 'authorization';
  const where = options.query !== undefined ? `query parameter ${options.query}` : `header ${options.header}`;
  return {
    scheme: 'token',
    expects: `${where}${bearer ? ': Bearer <token>' : ': <token>'}`,
    verify(request, secret) {
      let given = options.query !== undefined ? request.query[options.query] : request.headers[header!];
      if (given === undefined || given === '') return refuse(`missing ${where}`);
      if (bearer) {
        const m = /^Bearer\s+(.+)$/i.exec(given);
        if (!m) return refuse('Authorization is not "Bearer <token>"');
        given = m[1]!.trim();
      }
      if (!safeEqual(given, secret)) return refuse(`invalid token in ${where}`);
      return accept(idOf(request, options.idHeader));
    },
  };
}

/** HTTP basic auth; the secret is `user:password`. */
export function basicVerifier(options: { readonly idHeader?: string } = {}): WebhookVerifier {
  return {
    scheme: 'basic',
    expects: 'header Authorization: Basic <base64 of user:password>',
    verify(request, secret) {
      const value = request.headers.authorization;
      if (!value) return refuse('missing Authorization header');
      const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value.trim());
      if (!m) return refuse('Authorization is not "Basic <base64>"');
      if (!safeEqual(Buffer.from(m[1]!, 'base64').toString('utf8'), secret)) return refuse('invalid user or password');
      return accept(idOf(request, options.idHeader));
    },
  };
}
