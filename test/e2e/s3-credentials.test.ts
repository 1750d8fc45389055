import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '../../src/s3/client.js';
import { resolveStore } from '../../src/s3/credentials.js';
import { redact } from '../../src/redact.js';
import { scratchDir } from '../support/job.js';
import { startS3, type TestS3 } from '../support/s3.js';

// Credentials and endpoints found as the AWS CLI finds them: the environment, the shared config
// and credentials files with profiles, and web identity through STS (a small local STS here,
// answering AssumeRoleWithWebIdentity with s3rver's keys, as EKS's pod identity would).
const s = scratchDir('s3-creds');
let s3: TestS3;
let sts: http.Server;
let stsUrl = '';
const stsCalls: URLSearchParams[] = [];

beforeAll(async () => {
  s3 = await startS3();
  sts = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      stsCalls.push(form);
      if (form.get('WebIdentityToken') !== 'jwt-token-abc') {
        res.writeHead(400);
        res.end(
          '<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad token</Message></Error></ErrorResponse>',
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>
<AccessKeyId>S3RVER</AccessKeyId><SecretAccessKey>S3RVER</SecretAccessKey><SessionToken>session-tok-1</SessionToken>
<Expiration>${new Date(Date.now() + 3600_000).toISOString()}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`);
    });
  });
  await new Promise<void>((r) => sts.listen(0, '127.0.0.1', r));
  stsUrl = `http://127.0.0.1:${(sts.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => sts.close(r));
  await s3.stop();
  s.remove();
});

const base = () => ({ HOME: s.dir, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });

describe('where credentials and endpoints come from', () => {
  it('reads a named profile from the shared files, its endpoint_url and region included', async () => {
    const config = s.file(
      'config',
      `[default]\nregion = eu-west-1\n\n[profile store]\nregion = eu-central-1\nendpoint_url = ${s3.endpoint}\n`,
    );
    const creds = s.file('credentials', `[store]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n`);
    const env = { ...base(), AWS_PROFILE: 'store', AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: creds };
    const store = await resolveStore({}, env);
    expect([store.endpoint.origin, store.region, store.pathStyle, store.credentialSource]).toEqual([
      s3.endpoint,
      'eu-central-1',
      true,
      'profile store',
    ]);
    expect((await store.credentials()).accessKeyId).toBe('S3RVER');
  });

  it('lets AWS_ENDPOINT_URL_S3 win over AWS_ENDPOINT_URL, and the job win over both', async () => {
    const env = { ...base(), AWS_ENDPOINT_URL: 'http://a.example:1', AWS_ENDPOINT_URL_S3: 'http://b.example:2' };
    expect((await resolveStore({}, env)).endpoint.origin).toBe('http://b.example:2');
    const job = await resolveStore({ endpoint: 'http://c.example:3', region: 'r1', forcePathStyle: false }, env);
    expect([job.endpoint.origin, job.region, job.pathStyle]).toEqual(['http://c.example:3', 'r1', false]);
    expect((await resolveStore({}, { ...base() })).endpoint.origin).toBe('https://s3.us-east-1.amazonaws.com');
  });

  it('assumes a role with a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN) and reads the store with it', async () => {
    const token = s.file('token', 'jwt-token-abc\n');
    const env = {
      ...base(),
      AWS_WEB_IDENTITY_TOKEN_FILE: token,
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/scorer',
      AWS_ENDPOINT_URL_STS: stsUrl,
      AWS_ENDPOINT_URL: s3.endpoint,
    };
    const saved = process.env;
    process.env = env;
    try {
      const client = await S3Client.create({});
      await client.put(s3.bucket, 'wi/x', 'via web identity');
      expect(await client.getText(s3.bucket, 'wi/x')).toBe('via web identity');
    } finally {
      process.env = saved;
    }
    // Asked once (credentials are kept until five minutes before they expire); the token is a secret.
    expect(stsCalls.length).toBe(1);
    expect(stsCalls[0]!.get('RoleArn')).toBe('arn:aws:iam::123456789012:role/scorer');
    expect(redact('token jwt-token-abc, session session-tok-1')).toBe('token ***, session ***');
    // The session token went with every request, signed.
    expect(s3.requests.some((r) => r.url.startsWith('/mlscale-test/wi/x'))).toBe(true);
  });

  it('names the fix when STS refuses the token', async () => {
    const env = {
      ...base(),
      AWS_WEB_IDENTITY_TOKEN_FILE: s.file('bad-token', 'forged'),
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/scorer',
      AWS_ENDPOINT_URL_STS: stsUrl,
    };
    await expect((await resolveStore({}, env)).credentials()).rejects.toThrow(
      "s3: STS refused AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role/scorer (400 InvalidIdentityToken: bad token); check AWS_ROLE_ARN and the service account's trust policy.",
    );
  });

  it('says where to put credentials when there are none', async () => {
    await expect((await resolveStore({}, base())).credentials()).rejects.toThrow(
      's3: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS_PROFILE with keys in ~/.aws/credentials, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN.',
    );
  });
});
