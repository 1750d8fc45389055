import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { S3Client } from '../../src/s3/client.js';
import { onnxFixture } from './paths.js';
import { signRequest } from '../../src/s3/sigv4.js';
// s3rver is CommonJS without types: a real S3 API over HTTP (SigV4 verified), storing on disk.
// @ts-expect-error no type declarations
import S3rver from 's3rver';

/** One request as the proxy in front of the store saw it. */
export interface SeenRequest {
  readonly n: number;
  readonly method: string;
  /** Path and query, as sent (path-style: /bucket/key?query). */
  readonly url: string;
  readonly range: string | undefined;
  readonly ifNoneMatch: string | undefined;
  /** If-Match, as sent: on the object lock's heartbeat (a PUT) and on reads pinned to one version (GETs). */
  readonly ifMatch: string | undefined;
  status?: number;
}

/** What the proxy does with a request: pass it on, answer with an error, or run `then` around it. */
export type Fault =
  | { readonly reply: number; readonly code: string }
  | {
      readonly before?: () => void;
      /** Forwarded only once this settles: orders requests of two processes, no timing. */
      readonly hold?: Promise<unknown>;
      readonly after?: () => void;
      /** Called once the reply has been sent on. */
      readonly done?: () => void;
    };

export interface TestS3 {
  /** The proxy's URL: what a job's endpoint (or AWS_ENDPOINT_URL) names. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Every request since the last reset(), in order. */
  readonly requests: SeenRequest[];
  /**
   * Honour `If-None-Match: *` on PUT and `If-Match` on GET and PUT as S3 does (s3rver ignores
   * both): checked by a HEAD of the key first, so it holds for requests the proxy sees one after
   * another.
   */
  conditional: boolean;
  /** Decides per request; undefined passes it on. */
  fault: ((r: SeenRequest) => Fault | undefined) | undefined;
  /** The environment a child needs to reach the store (s3rver's fixed keys). */
  readonly env: Record<string, string>;
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Starts s3rver on a free port of 127.0.0.1 with bucket `bucket`, behind a proxy that records
 * every request and can fail or intercept the n-th one (deterministic fault injection: no timing).
 */
export async function startS3(bucket = 'mlscale-test'): Promise<TestS3> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mlscale-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const addr = (await server.run()) as AddressInfo;
  const requests: SeenRequest[] = [];
  const state: TestS3 = {
    endpoint: '',
    bucket,
    requests,
    fault: undefined,
    conditional: false,
    env: {},
    reset: () => {
      requests.length = 0;
      state.fault = undefined;
    },
    stop: async () => {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const proxy = http.createServer((req, res) => {
    const seen: SeenRequest = {
      n: requests.length + 1,
      method: req.method ?? '',
      url: req.url ?? '',
      range: req.headers.range,
      ifNoneMatch: req.headers['if-none-match'] as string | undefined,
      ifMatch: req.headers['if-match'] as string | undefined,
    };
    requests.push(seen);
    // s3rver checks the access key id but not a SigV4 signature: the proxy checks it with the
    // secret, so a wrong secret is refused as AWS refuses it.
    if (!signatureMatches(req)) {
      req.resume();
      seen.status = 403;
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>',
      );
      return;
    }
    const fault = state.fault?.(seen);
    if (fault && 'reply' in fault) {
      req.resume();
      seen.status = fault.reply;
      res.writeHead(fault.reply, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`,
      );
      return;
    }
    fault?.before?.();
    const forward = async () => {
      if (fault && 'hold' in fault) await fault.hold;
      if (state.conditional && (await preconditionFails(addr.port, req))) {
        req.resume();
        seen.status = 412;
        res.writeHead(412, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
        );
        fault?.done?.();
        return;
      }
      const upstream = http.request(
        { host: '127.0.0.1', port: addr.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          seen.status = up.statusCode ?? 0;
          fault?.after?.();
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => fault?.done?.());
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    void forward();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  Object.assign(state, {
    endpoint,
    env: {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: endpoint,
      // The developer's own profile and files must not leak in.
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      MLSCALE_S3_RETRY_BASE_MS: '5',
    },
  });
  return state;
}

/**
 * Whether S3 would refuse the request's condition: `If-None-Match: *` on a PUT of a key that
 * exists, or `If-Match` (GET or PUT) naming another ETag than the object's (or a missing object).
 * Decided by a HEAD of the key just before the request is forwarded.
 */
async function preconditionFails(port: number, req: http.IncomingMessage): Promise<boolean> {
  const noneMatch = req.method === 'PUT' && req.headers['if-none-match'] === '*';
  const match = req.headers['if-match'];
  if (!noneMatch && match === undefined) return false;
  const head = await new Promise<{ status: number; etag: string | undefined }>((resolve) =>
    http
      .request(
        { host: '127.0.0.1', port, method: 'HEAD', path: req.url, headers: { host: req.headers.host } },
        (up) => {
          up.resume();
          resolve({ status: up.statusCode ?? 0, etag: up.headers.etag });
        },
      )
      .on('error', () => resolve({ status: 0, etag: undefined }))
      .end(),
  );
  if (noneMatch) return head.status === 200;
  return head.status !== 200 || head.etag !== match;
}

/** The secret of s3rver's one account (its access key id is S3RVER too). */
const SECRET = 'S3RVER';

/**
 * Whether the request's SigV4 signature is the one SECRET makes. Recomputed with mlscale's signer,
 * which the client test holds to the S3 API reference's published example signature.
 */
function signatureMatches(req: http.IncomingMessage): boolean {
  const auth = req.headers.authorization;
  if (!auth) return true;
  const m =
    /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]+)/.exec(
      auth,
    );
  if (!m || m[1] !== 'S3RVER') return true; // s3rver itself refuses an unknown access key id
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const now = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const headers: Record<string, string> = {};
  for (const name of m[5]!.split(';'))
    if (!['host', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token'].includes(name))
      headers[name] = String(req.headers[name] ?? '');
  const again = signRequest({
    method: req.method ?? 'GET',
    url: new URL(`http://${req.headers.host}${req.url}`),
    headers,
    payloadHash: String(req.headers['x-amz-content-sha256'] ?? ''),
    credentials: {
      accessKeyId: 'S3RVER',
      secretAccessKey: SECRET,
      ...(req.headers['x-amz-security-token'] ? { sessionToken: String(req.headers['x-amz-security-token']) } : {}),
    },
    region: m[3]!,
    service: m[4]!,
    now,
  });
  return again.authorization === auth;
}

/** A client of the test store for the test process itself (reads s3.env into process.env). */
export async function testClient(s3: TestS3): Promise<S3Client> {
  Object.assign(process.env, s3.env);
  return S3Client.create({});
}

/** Copies every object under `prefix` into `dir` (keys as relative paths), for DuckDB to read. */
export async function download(client: S3Client, bucket: string, prefix: string, dir: string): Promise<string[]> {
  const keys: string[] = [];
  for (const o of await client.list(bucket, prefix)) {
    const file = path.join(dir, o.key.slice(prefix.length));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, await client.get(bucket, o.key));
    keys.push(o.key.slice(prefix.length));
  }
  return keys;
}

/** Uploads a local file of any size as a multipart upload of 16 MiB parts, read one part at a time. */
export async function uploadFile(client: S3Client, bucket: string, key: string, file: string): Promise<void> {
  const PART = 16 * 1024 * 1024;
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const id = await client.createMultipart(bucket, key);
    const etags: string[] = [];
    for (let at = 0; at < size; at += PART) {
      const buf = Buffer.alloc(Math.min(PART, size - at));
      await fh.read(buf, 0, buf.length, at);
      etags.push(await client.uploadPart(bucket, key, id, etags.length + 1, buf));
    }
    await client.completeMultipart(bucket, key, id, etags);
  } finally {
    await fh.close();
  }
}

/**
 * A job that scores the iris fixture with test_xgb.onnx from `source` into `sink` (Parquet paths,
 * local or s3://). `sinkOptions` is added inside the sink's braces, `extra` as top-level lines.
 */
export function irisJob(o: {
  name: string;
  source: string;
  sink: string;
  sinkOptions?: string;
  extra?: string;
}): string {
  return `name: ${o.name}
params:
  ds: "2024-01-01"
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]
key: [row_id]
${o.extra ?? ''}source:
  parquet: { path: "${o.source}" }
sink:
  parquet: { path: "${o.sink}"${o.sinkOptions ? `, ${o.sinkOptions}` : ''} }
`;
}
