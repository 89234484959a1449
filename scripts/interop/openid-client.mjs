// Drives gatehouse with openid-client (the most used JS relying-party
// library): code + PKCE, PAR found through discovery alone, private_key_jwt
// with the library's default assertion, and invalid_client for a wrong secret.
import * as client from 'openid-client';
import * as jose from 'jose';

const issuer = new URL(process.argv[2] || 'http://localhost:18080');
const insecure = { execute: [client.allowInsecureRequests] };
const results = [];
const ok = (name, cond, detail = '') => { results.push([name, cond, detail]); console.log(`${cond ? 'PASS' : 'FAIL'} ${name} ${detail}`); };

// A browser: a cookie jar, following same-origin redirects until the callback.
function browser() {
  const jar = new Map();
  const send = async (url, init = {}) => {
    const headers = new Headers(init.headers || {});
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) { const [kv] = c.split(';'); const i = kv.indexOf('='); jar.set(kv.slice(0, i), kv.slice(i + 1)); }
    return res;
  };
  const fields = (html, action) => {
    const form = html.split('<form').find(f => f.includes(`action="${action}"`) && !f.includes('passkey-form'));
    const out = new URLSearchParams();
    for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) out.set(m[1], m[2].replaceAll('&amp;', '&'));
    return out;
  };
  return async function run(url, user) {
    let res = await send(url);
    for (let i = 0; i < 15; i++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location'), url);
        if (next.pathname.endsWith('/callback') || next.origin !== issuer.origin) return next;
        url = next.href; res = await send(url); continue;
      }
      const html = await res.text();
      if (html.includes('action="/login"')) {
        const f = fields(html, '/login'); f.set('email', user.email); f.set('password', user.password);
        res = await send(new URL('/login', issuer), { method: 'POST', body: f, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      } else if (html.includes('action="/consent"')) {
        const f = fields(html, '/consent'); f.set('action', 'allow');
        res = await send(new URL('/consent', issuer), { method: 'POST', body: f, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      } else throw new Error(`stuck at ${url}: ${res.status} ${html.slice(0, 300)}`);
    }
    throw new Error('too many steps');
  };
}

const user = { email: 'demo@example.com', password: 'demo-password' };
const redirect_uri = new URL('/dev/callback', issuer).href;

// 1. Code + PKCE with client_secret_basic (the demo client).
const config = await client.discovery(issuer, 'demo-client', undefined, client.ClientSecretBasic('demo-client-secret-for-local-development-only'), insecure);
{
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState(), nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, { redirect_uri, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
  const cb = await browser()(url.href, user);
  const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  ok('code + PKCE (client_secret_basic)', !!claims.sub && info.email === 'demo@example.com', `sub ${claims.sub}`);
}

// 2. PAR, found through discovery alone.
{
  ok('PAR endpoint in discovery', !!config.serverMetadata().pushed_authorization_request_endpoint, config.serverMetadata().pushed_authorization_request_endpoint);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(config, { redirect_uri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce: 'n-par-1234' });
  const cb = await browser()(url.href, user);
  const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: 'n-par-1234' });
  ok('code + PKCE through PAR', url.searchParams.has('request_uri') && !!tokens.id_token, url.searchParams.get('request_uri'));
}

// 3. private_key_jwt with the library's default assertion (registered by DCR).
{
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'oc-1', alg: 'ES256', use: 'sig' };
  const reg = await fetch(config.serverMetadata().registration_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'openid-client private_key_jwt', redirect_uris: [redirect_uri], token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [jwk] } }) }).then(r => r.json());
  const pkj = await client.discovery(issuer, reg.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, client.PrivateKeyJwt({ key: privateKey, kid: 'oc-1' }), insecure);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState(), nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(pkj, { redirect_uri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
  const cb = await browser()(url.href, user);
  const tokens = await client.authorizationCodeGrant(pkj, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  ok('code + PKCE with private_key_jwt (default assertion)', !!tokens.id_token, `client ${reg.client_id}`);
}

// 4. A wrong secret: the library sees invalid_client.
{
  const wrong = await client.discovery(issuer, 'demo-client', undefined, client.ClientSecretBasic('not-the-secret'), insecure);
  try {
    await client.refreshTokenGrant(wrong, 'not-a-refresh-token');
    ok('wrong secret → invalid_client', false, 'accepted');
  } catch (e) {
    // oauth4webapi reads a 401's WWW-Authenticate challenge before the body.
    const code = e.error ?? e.cause?.[0]?.parameters?.error;
    ok('wrong secret → invalid_client', code === 'invalid_client' && e.status === 401, `${e.name}: error=${code} status=${e.status}`);
  }
}
process.exit(results.every(r => r[1]) ? 0 : 1);
