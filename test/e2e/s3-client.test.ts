import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client, S3Error } from '../../src/s3/client.js';
import { signRequest } from '../../src/s3/sigv4.js';
import { startS3, type TestS3 } from '../support/s3.js';

// The S3 client against s3rver (a real S3 API over HTTP that verifies SigV4 signatures), through
// a proxy that records requests and fails chosen ones.
let s3: TestS3;
let client: S3Client;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startS3();
  Object.assign(process.env, s3.env);
  client = await S3Client.create({});
});
afterAll(async () => {
  process.env = saved;
  await s3.stop();
});

describe('SigV4', () => {
  it('signs the S3 API reference example (GET Object with a Range) to its published signature', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'),
      headers: { Range: 'bytes=0-9' },
      payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      region: 'us-east-1',
      service: 's3',
      now: new Date('2013-05-24T00:00:00Z'),
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });
});

describe('S3 client against s3rver', () => {
  it('puts, lists, reads a range and deletes, keys with spaces and unicode included', async () => {
    const key = 'dir/a file é+x.bin';
    await client.put(s3.bucket, key, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect([...(await client.get(s3.bucket, key, [2, 5]))]).toEqual([2, 3, 4]);
    expect((await client.list(s3.bucket, 'dir/')).map((o) => [o.key, o.size])).toEqual([[key, 10]]);
    expect((await client.head(s3.bucket, key))?.size).toBe(10);
    await client.delete(s3.bucket, key);
    expect(await client.head(s3.bucket, key)).toBeUndefined();
  });

  it('pages through a listing by marker, in key order', async () => {
    await Promise.all(Array.from({ length: 7 }, (_, i) => client.put(s3.bucket, `many/k${i}`, 'x')));
    s3.reset();
    const keys = (await client.list(s3.bucket, 'many/', 3)).map((o) => o.key);
    expect(keys).toEqual(Array.from({ length: 7 }, (_, i) => `many/k${i}`));
    expect(s3.requests.map((r) => decodeURIComponent(r.url).replace(/^.*marker=/, 'marker='))).toEqual([
      `/${s3.bucket}/?prefix=many/&max-keys=3`,
      'marker=many/k2',
      'marker=many/k5',
    ]);
  });

  it('completes a multipart upload, invisible to a listing until completed', async () => {
    const id = await client.createMultipart(s3.bucket, 'mp/obj');
    const a = new Uint8Array(5 * 1024 * 1024).fill(1);
    const etags = [await client.uploadPart(s3.bucket, 'mp/obj', id, 1, a)];
    etags.push(await client.uploadPart(s3.bucket, 'mp/obj', id, 2, new Uint8Array([7, 7])));
    expect(await client.list(s3.bucket, 'mp/')).toEqual([]);
    await client.completeMultipart(s3.bucket, 'mp/obj', id, etags);
    expect((await client.head(s3.bucket, 'mp/obj'))?.size).toBe(a.length + 2);
  });

  it('retries 503 SlowDown, 500 and 429 with backoff, and gives up after MLSCALE_S3_MAX_ATTEMPTS', async () => {
    await client.put(s3.bucket, 'retry/x', 'hello');
    s3.reset();
    const script = [503, 500, 429];
    s3.fault = (r) => {
      const status = script[r.n - 1];
      return status ? { reply: status, code: status === 503 ? 'SlowDown' : 'InternalError' } : undefined;
    };
    expect(await client.getText(s3.bucket, 'retry/x')).toBe('hello');
    expect(s3.requests.map((r) => r.status)).toEqual([503, 500, 429, 200]);
    s3.reset();
    s3.fault = () => ({ reply: 503, code: 'SlowDown' });
    const err = await client.get(s3.bucket, 'retry/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3Error);
    expect((err as S3Error).code).toBe('SlowDown');
    expect(s3.requests.length).toBe(6);
    s3.reset();
  });

  it('does not retry a 403: wrong credentials are named once, the secret nowhere', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret-x9';
    try {
      const wrong = await S3Client.create({});
      s3.reset();
      const err = await wrong.get(s3.bucket, 'retry/x').catch((e: unknown) => wrong.explain(e, 's3://b/retry/x'));
      expect(s3.requests.length).toBe(1);
      expect((err as Error).message).toBe(
        `s3: ${s3.endpoint} refused the credentials for s3://b/retry/x (SignatureDoesNotMatch); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile (credentials from AWS_ACCESS_KEY_ID in the environment).`,
      );
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    }
  });

  it('shows that s3rver ignores If-None-Match on PUT (so mlscale probes for it)', async () => {
    expect(await client.put(s3.bucket, 'cond/x', 'a', { ifNoneMatch: true })).toBe(true);
    expect(await client.put(s3.bucket, 'cond/x', 'b', { ifNoneMatch: true })).toBe(true);
    expect(await client.getText(s3.bucket, 'cond/x')).toBe('b');
  });
});
