import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeFailure, UsageError } from '../errors.js';
import { resolveStore, type ResolvedStore, type S3Options } from './credentials.js';
import { EMPTY_SHA256, sha256Hex, signRequest, uriEncode } from './sigv4.js';
import { escapeXml, xmlBlocks, xmlTag } from './xml.js';

/** An object as a listing shows it. */
export interface S3Object {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: number;
}

/** A reply the store sent with an error status: `code` is S3's (NoSuchKey, SlowDown, ...). */
export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

/** Replies worth asking again: the store is busy or failed, not the request wrong. */
const RETRY_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'InternalError']);
const retryable = (status: number, code: string) => status >= 500 || status === 429 || RETRY_CODES.has(code);

/** How often a request is tried in all (MLSCALE_S3_MAX_ATTEMPTS), and the first backoff. */
const MAX_ATTEMPTS = Number(process.env.MLSCALE_S3_MAX_ATTEMPTS ?? 6);
const BASE_DELAY_MS = Number(process.env.MLSCALE_S3_RETRY_BASE_MS ?? 100);

interface RequestInit {
  readonly method: string;
  readonly bucket: string;
  readonly key?: string;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
}

/**
 * A small S3 client over Node's fetch: SigV4-signed requests, retried with jittered exponential
 * backoff on 5xx, 429 and throttling, and errors that name the object and the fix.
 */
export class S3Client {
  /** Requests sent and retried, for logs and tests. */
  readonly stats = { requests: 0, retries: 0 };

  private constructor(private readonly store: ResolvedStore) {}

  static async create(options: S3Options = {}): Promise<S3Client> {
    return new S3Client(await resolveStore(options));
  }

  get endpoint(): string {
    return this.store.endpoint.origin;
  }

  private url(bucket: string, key = '', query: Record<string, string> = {}): URL {
    const e = this.store.endpoint;
    const encoded = uriEncode(key, true);
    // A bucket name with dots does not fit the store's TLS certificate as a host name.
    const url =
      this.store.pathStyle || bucket.includes('.')
        ? new URL(`${e.protocol}//${e.host}/${bucket}/${encoded}`)
        : new URL(`${e.protocol}//${bucket}.${e.host}/${encoded}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** Sends one request (retried as the module says); a reply with an error status throws S3Error. */
  async request(init: RequestInit): Promise<Response> {
    const url = this.url(init.bucket, init.key, init.query);
    const payloadHash = init.body ? sha256Hex(init.body) : EMPTY_SHA256;
    for (let attempt = 1; ; attempt++) {
      const headers = signRequest({
        method: init.method,
        url,
        headers: init.headers ?? {},
        payloadHash,
        credentials: await this.store.credentials(),
        region: this.store.region,
        service: 's3',
      });
      this.stats.requests++;
      let failure: S3Error | Error;
      try {
        const res = await fetch(url, {
          method: init.method,
          headers,
          // Bodies are built here from fresh buffers, never views of a SharedArrayBuffer.
          ...(init.body ? { body: init.body as Uint8Array<ArrayBuffer> } : {}),
        });
        if (res.ok || res.status === 304) return res;
        const text = await res.text().catch(() => '');
        const code = xmlTag(text, 'Code') ?? String(res.status);
        failure = new S3Error(res.status, code, xmlTag(text, 'Message') ?? res.statusText);
        if (!retryable(res.status, code)) throw failure;
      } catch (err) {
        if (err instanceof S3Error && !retryable(err.status, err.code)) throw err;
        failure = err as Error;
      }
      if (attempt >= MAX_ATTEMPTS) throw failure;
      this.stats.retries++;
      // Full jitter: clients throttled together do not come back together.
      await sleep(Math.random() * Math.min(10_000, BASE_DELAY_MS * 2 ** (attempt - 1)));
    }
  }

  /** The object's bytes, or those of [start, end) (a ranged GET); `etag` pins the version read. */
  async get(bucket: string, key: string, range?: readonly [number, number], etag?: string): Promise<Uint8Array> {
    const headers: Record<string, string> = {};
    if (range) headers.range = `bytes=${range[0]}-${range[1] - 1}`;
    if (etag) headers['if-match'] = etag;
    const res = await this.request({ method: 'GET', bucket, key, headers });
    return new Uint8Array(await res.arrayBuffer());
  }

  async getText(bucket: string, key: string): Promise<string | undefined> {
    try {
      return new TextDecoder().decode(await this.get(bucket, key));
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * Writes an object. With `ifNoneMatch` only when no object has the key (a conditional write):
   * returns false when one does (412). A store that ignores the condition overwrites it.
   */
  async put(
    bucket: string,
    key: string,
    body: Uint8Array | string,
    opts: { ifNoneMatch?: boolean } = {},
  ): Promise<boolean> {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    try {
      await this.request({
        method: 'PUT',
        bucket,
        key,
        body: bytes,
        headers: opts.ifNoneMatch ? { 'if-none-match': '*' } : {},
      });
      return true;
    } catch (err) {
      if (opts.ifNoneMatch && err instanceof S3Error && (err.status === 412 || err.status === 409)) return false;
      throw err;
    }
  }

  /**
   * Overwrites an object only while it is still the version `etag` names (If-Match, honoured by
   * S3 since late 2024): returns the new ETag, or false when another writer replaced it (412).
   */
  async putIfMatch(bucket: string, key: string, body: string, etag: string): Promise<string | false> {
    try {
      const res = await this.request({
        method: 'PUT',
        bucket,
        key,
        body: new TextEncoder().encode(body),
        headers: { 'if-match': etag },
      });
      return res.headers.get('etag') ?? etag;
    } catch (err) {
      if (err instanceof S3Error && (err.status === 412 || err.status === 404)) return false;
      throw err;
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.request({ method: 'DELETE', bucket, key });
  }

  async head(bucket: string, key: string): Promise<S3Object | undefined> {
    try {
      const res = await this.request({ method: 'HEAD', bucket, key });
      return {
        key,
        size: Number(res.headers.get('content-length') ?? 0),
        etag: res.headers.get('etag') ?? '',
        lastModified: Date.parse(res.headers.get('last-modified') ?? '') || 0,
      };
    } catch (err) {
      if (err instanceof S3Error && (err.status === 404 || err.code === 'NoSuchKey')) return undefined;
      throw err;
    }
  }

  /**
   * Every object whose key starts with `prefix`, all pages, in key order. ListObjects (v1) paged
   * by `marker` (the last key seen): every S3-compatible store has it, where some cannot make
   * ListObjectsV2's continuation tokens (s3rver's use DES, which OpenSSL 3 no longer offers).
   */
  async list(bucket: string, prefix: string, pageSize = 1000): Promise<S3Object[]> {
    const out: S3Object[] = [];
    let marker: string | undefined;
    for (;;) {
      const query: Record<string, string> = { prefix, 'max-keys': String(pageSize) };
      if (marker !== undefined) query.marker = marker;
      const xml = await (await this.request({ method: 'GET', bucket, query })).text();
      const page = xmlBlocks(xml, 'Contents').map((c) => ({
        key: xmlTag(c, 'Key')!,
        size: Number(xmlTag(c, 'Size') ?? 0),
        etag: xmlTag(c, 'ETag') ?? '',
        lastModified: Date.parse(xmlTag(c, 'LastModified') ?? '') || 0,
      }));
      out.push(...page);
      if (xmlTag(xml, 'IsTruncated') !== 'true' || page.length === 0) break;
      marker = page[page.length - 1]!.key;
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async createMultipart(bucket: string, key: string): Promise<string> {
    const res = await this.request({ method: 'POST', bucket, key, query: { uploads: '' } });
    const id = xmlTag(await res.text(), 'UploadId');
    if (!id) throw new S3Error(500, 'InternalError', `no UploadId in the reply to CreateMultipartUpload`);
    return id;
  }

  async uploadPart(bucket: string, key: string, uploadId: string, part: number, body: Uint8Array): Promise<string> {
    const res = await this.request({
      method: 'PUT',
      bucket,
      key,
      query: { partNumber: String(part), uploadId },
      body,
    });
    return res.headers.get('etag') ?? '';
  }

  async completeMultipart(bucket: string, key: string, uploadId: string, etags: readonly string[]): Promise<void> {
    const xml =
      '<CompleteMultipartUpload>' +
      etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`).join('') +
      '</CompleteMultipartUpload>';
    const res = await this.request({
      method: 'POST',
      bucket,
      key,
      query: { uploadId },
      body: new TextEncoder().encode(xml),
    });
    // S3 may answer 200 with an error in the body when the completion failed late.
    const text = await res.text();
    if (/<Error>/.test(text))
      throw new S3Error(500, xmlTag(text, 'Code') ?? 'InternalError', xmlTag(text, 'Message') ?? text);
  }

  async abortMultipart(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.request({ method: 'DELETE', bucket, key, query: { uploadId } });
  }

  /**
   * An S3 failure as mlscale reports it: wrong credentials and missing buckets in one sentence
   * naming the fix, anything else with the store's code. `what` names the object or prefix.
   */
  explain(err: unknown, what: string): Error {
    if (!(err instanceof S3Error)) {
      if (err instanceof RuntimeFailure || err instanceof UsageError) return err;
      return new RuntimeFailure(
        `s3: ${what} cannot be reached at ${this.endpoint} (${(err as Error).message}); check the endpoint and the network.`,
        { code: 's3_request', cause: err },
      );
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken'].includes(err.code))
      return new RuntimeFailure(
        `s3: ${this.endpoint} refused the credentials for ${what} (${err.code}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile (credentials from ${this.store.credentialSource}).`,
        { code: 's3_credentials', cause: err },
      );
    if (err.status === 412)
      return new RuntimeFailure(
        `s3: ${what} was rewritten while this run read it (its ETag is no longer the one listed); run again once it stays put.`,
        { code: 's3_changed', cause: err },
      );
    if (err.code === 'AccessDenied')
      return new RuntimeFailure(
        `s3: access denied to ${what} (credentials from ${this.store.credentialSource}); grant the role s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket there.`,
        { code: 's3_access', cause: err },
      );
    if (err.code === 'NoSuchBucket')
      return new UsageError(`s3: ${what}: no such bucket at ${this.endpoint}; fix the path or the endpoint.`, {
        code: 's3_bucket',
        cause: err,
      });
    // A HEAD's error has no body: its status is all there is.
    const reason =
      err.code === String(err.status) ? `${err.status} ${err.message}` : `${err.status} ${err.code}: ${err.message}`;
    return new RuntimeFailure(`s3: ${what} failed (${reason}).`, {
      code: 's3_request',
      cause: err,
    });
  }
}
