// A real OIDC token issuer (npm `oidc-provider`, OpenID-certified) laid out like Keycloak, for the
// tests and the demo. Production uses Keycloak, which no reachable registry ships; this serves the
// same URLs so a client configured for Keycloak works unchanged:
//
//   <base>/realms/<realm>/.well-known/openid-configuration
//   <base>/realms/<realm>/protocol/openid-connect/token             (client_credentials)
//   <base>/realms/<realm>/protocol/openid-connect/certs             (JWKS)
//   <base>/realms/<realm>/protocol/openid-connect/token/introspect
//
// Access tokens are RS256 JWTs (RFC 9068) for the audience `dwdi-api`, carrying the requested
// scope; clients authenticate with client_secret_post or client_secret_basic.
//
// Admin API (outside the realm, no authentication, demo/test only):
//   GET  /sandbox/stats  -> {"tokens_issued": {"<client_id>": n}, "total": n}
//   POST /sandbox/reset  -> zeroes the counts, answers the (now empty) stats
//
// Usage: node issuer.js [--port N] [--host H] [--realm R] [--public-url URL]
//   --port 0 (default) lets the OS choose; --host defaults to 127.0.0.1 (0.0.0.0 in docker);
//   --public-url is the base URL other hosts use (docker: http://sandbox-oidc:9000), which goes
//   into the issuer (`iss`); default http://<host>:<port> (127.0.0.1 when bound to 0.0.0.0).
// Environment: ISSUER_CLIENTS = JSON list of {"client_id", "client_secret", "ttl"} (ttl = access
//   token lifetime in seconds); ISSUER_SCOPES = space-separated extra scopes to accept.
// Prints exactly one line `READY http://<host>:<port>` (the local address, even with --public-url)
// on stdout once listening; everything else goes to stderr, so a parent can read the port.

import crypto from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

// oidc-provider warns about Node 20 ("Unsupported runtime") at import time and prints notices with
// console.info (stdout). Drop that one warning and send the rest to stderr *before* importing it
// (hence the dynamic import below) so stdout carries only the READY line.
const originalWarn = console.warn.bind(console);
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
  originalWarn(...args);
};
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const { default: Provider } = await import('oidc-provider');

const AUDIENCE = 'dwdi-api';
// A resource indicator must be an absolute URI; the token's `aud` is the plain audience name.
const RESOURCE = `urn:${AUDIENCE}`;
const DEFAULT_CLIENTS = [
  { client_id: 'dwdi-client', client_secret: 'dwdi-secret', ttl: 300 },
  { client_id: 'dwdi-short', client_secret: 'short-secret', ttl: 2 },
  { client_id: 'dwdi-brief', client_secret: 'brief-secret', ttl: 60 },
];

function fail(message) {
  console.error(`issuer: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { port: 0, host: '127.0.0.1', realm: 'cscs', publicUrl: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i];
    const value = argv[i + 1];
    if (value === undefined) fail(`missing value for ${name}`);
    switch (name) {
      case '--port':
        options.port = Number.parseInt(value, 10);
        if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
          fail(`bad --port ${value}`);
        }
        break;
      case '--host':
        options.host = value;
        break;
      case '--realm':
        if (!/^[A-Za-z0-9_-]+$/.test(value)) fail(`bad --realm ${value}`);
        options.realm = value;
        break;
      case '--public-url':
        options.publicUrl = value.replace(/\/+$/, '');
        break;
      default:
        fail(`unknown argument ${name}`);
    }
    i += 1;
  }
  return options;
}

function loadClients() {
  const raw = process.env.ISSUER_CLIENTS;
  if (!raw) return DEFAULT_CLIENTS;
  let clients;
  try {
    clients = JSON.parse(raw);
  } catch (error) {
    fail(`ISSUER_CLIENTS is not JSON: ${error.message}`);
  }
  if (!Array.isArray(clients) || clients.length === 0) fail('ISSUER_CLIENTS must be a non-empty JSON list');
  for (const client of clients) {
    if (typeof client?.client_id !== 'string' || !client.client_id
      || typeof client.client_secret !== 'string' || !client.client_secret) {
      fail(`ISSUER_CLIENTS entry needs client_id and client_secret strings: ${JSON.stringify(client)}`);
    }
    const ttl = client.ttl ?? 300;
    if (!Number.isInteger(ttl) || ttl <= 0) fail(`ttl of ${client.client_id} must be a positive integer`);
    client.ttl = ttl;
  }
  return clients;
}

const options = parseArgs(process.argv.slice(2));
const clients = loadClients();
const ttlByClient = new Map(clients.map((client) => [client.client_id, client.ttl]));
// `openid` is what Keycloak clients send by default; it must be accepted for client_credentials.
const scopes = ['openid', ...(process.env.ISSUER_SCOPES || '').split(/\s+/).filter(Boolean)];

// One RSA key per run: tokens of an earlier run must not verify anyway.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const counts = new Map();
const realmPrefix = `/realms/${options.realm}`;
let provider;
let providerCallback;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function stats() {
  let total = 0;
  for (const n of counts.values()) total += n;
  return { tokens_issued: Object.fromEntries(counts), total };
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (pathname === '/sandbox/stats' && req.method === 'GET') {
    sendJson(res, 200, stats());
  } else if (pathname === '/sandbox/reset' && req.method === 'POST') {
    counts.clear();
    sendJson(res, 200, stats());
  } else if (pathname === `${realmPrefix}${INTROSPECT_ROUTE}` && providerCallback) {
    introspect(req, res).catch((error) => {
      console.error('issuer: introspection failed', error);
      sendJson(res, 500, { error: 'server_error' });
    });
  } else if (pathname.startsWith(`${realmPrefix}/`) && providerCallback) {
    // The provider routes relative to its mount path: strip the realm prefix, and keep the full
    // path in originalUrl (as Express does), from which it builds the URLs in discovery.
    req.originalUrl = req.url;
    req.url = req.url.slice(realmPrefix.length);
    providerCallback(req, res);
  } else if (pathname.startsWith('/sandbox/')) {
    sendJson(res, 405, { error: 'method_not_allowed' });
  } else {
    sendJson(res, 404, { error: 'not_found', error_description: `no route for ${pathname}` });
  }
});

// oidc-provider refuses to introspect the JWTs it issues ("structured tokens"); Keycloak does
// introspect them, so this route is answered here: the caller authenticates as a client (Basic or
// form), and a token is active when its signature, issuer and expiry check out.
const INTROSPECT_ROUTE = '/protocol/openid-connect/token/introspect';
const publicKey = crypto.createPublicKey(privateKey);
const secretByClient = new Map(clients.map((client) => [client.client_id, client.client_secret]));

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 65536) {
        reject(new Error('request body too large'));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sameSecret(given, expected) {
  const a = Buffer.from(String(given));
  const b = Buffer.from(String(expected));
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function verifiedClaims(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== 'RS256' || header.kid !== signingKey.kid) return undefined;
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!crypto.verify('RSA-SHA256', signed, publicKey, Buffer.from(parts[2], 'base64url'))) return undefined;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (claims.iss !== provider.issuer || !(claims.exp > Date.now() / 1000)) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

async function introspect(req, res) {
  if (req.method !== 'POST') {
    sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' });
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  let clientId = form.get('client_id');
  let clientSecret = form.get('client_secret');
  const authorization = req.headers.authorization ?? '';
  if (authorization.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    clientId = decodeURIComponent(decoded.slice(0, colon));
    clientSecret = decodeURIComponent(decoded.slice(colon + 1));
  }
  if (!clientId || !secretByClient.has(clientId) || !sameSecret(clientSecret ?? '', secretByClient.get(clientId))) {
    sendJson(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    return;
  }
  if (!form.get('token')) {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'missing required parameter: token' });
    return;
  }
  const claims = verifiedClaims(form.get('token'));
  sendJson(res, 200, claims ? { active: true, token_type: 'Bearer', ...claims } : { active: false });
}

function countIssued(token) {
  counts.set(token.clientId, (counts.get(token.clientId) ?? 0) + 1);
}

server.listen(options.port, options.host, () => {
  const { port } = server.address();
  const localHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const local = `http://${localHost.includes(':') ? `[${localHost}]` : localHost}:${port}`;
  const base = options.publicUrl ?? local;
  // The issuer needs the real port, which the OS chooses at listen time: build the provider now.
  provider = new Provider(`${base}${realmPrefix}`, {
    clients: clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks: { keys: [signingKey] },
    scopes,
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Clients that never send `resource=` (all Keycloak clients) get a JWT for the API.
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Error('unknown resource');
          return {
            scope: scopes.join(' '),
            audience: AUDIENCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: (_ctx, _token, client) => ttlByClient.get(client.clientId) ?? 300,
    },
    routes: {
      authorization: '/protocol/openid-connect/auth',
      end_session: '/protocol/openid-connect/logout',
      introspection: '/protocol/openid-connect/token/introspect',
      jwks: '/protocol/openid-connect/certs',
      revocation: '/protocol/openid-connect/revoke',
      token: '/protocol/openid-connect/token',
      userinfo: '/protocol/openid-connect/userinfo',
    },
  });
  // JWT access tokens are not stored, so they emit `issued`; opaque ones emit `saved`.
  provider.on('client_credentials.issued', countIssued);
  provider.on('client_credentials.saved', countIssued);
  provider.on('server_error', (_ctx, error) => console.error('issuer: server error', error));
  providerCallback = provider.callback();
  console.error(`issuer: ${provider.issuer} (clients: ${clients.map((c) => c.client_id).join(', ')})`);
  // The local URL (not --public-url): the parent process reads the port from it.
  process.stdout.write(`READY ${local}\n`);
});

server.on('error', (error) => fail(`cannot listen on ${options.host}:${options.port}: ${error.message}`));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Keep-alive clients must not hold the process open.
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
