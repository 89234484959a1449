// A minimal panva/node-oidc-provider for `make bench-compare`: its memory
// adapter, one confidential client using client_secret_basic, introspection
// and client_credentials on; FORMAT=jwt issues ES256 JWT access tokens
// (through resource indicators, the way oidc-provider does JWT tokens).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwk = (k, kid) => ({ ...k.privateKey.export({ format: 'jwk' }), kid, use: 'sig' });
const config = {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rs256'), jwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'es256')] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef0123'] },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
  },
};
if (process.env.FORMAT === 'jwt') {
  config.features.resourceIndicators = {
    enabled: true,
    defaultResource: () => 'urn:bench:api',
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({ scope: '', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
  };
}
const provider = new Provider(issuer, config);
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => console.log(`oidc-provider (${process.env.FORMAT || 'opaque'}) on ${issuer}`));
