import { UsageError } from '../errors.js';

/** Where an object, or a prefix of objects, lives. */
export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

export const isS3 = (p: string): boolean => p.startsWith('s3://');

/** s3://bucket/key → { bucket, key }; `what` names the setting in the message. */
export function parseS3(url: string, what = 'path'): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1]!))
    throw new UsageError(
      `${what}: "${url}" does not name an S3 bucket; write s3://BUCKET/KEY (bucket names are 3 to 63 lower-case letters, digits, dots and hyphens).`,
      { code: 's3_url' },
    );
  return { bucket: m[1]!, key: m[2]! };
}

export const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;
