import { readFile } from 'node:fs/promises';
import { RuntimeFailure, UsageError } from '../errors.js';
import { registerSecret } from '../redact.js';
import { loadProfile, type Profile } from './aws-config.js';
import type { Credentials } from './sigv4.js';

/** The job's settings for an S3-compatible store (source.parquet / sink.parquet). */
export interface S3Options {
  /** Endpoint URL (http://127.0.0.1:9000 for MinIO); default from the environment or AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Address buckets as endpoint/bucket/key rather than bucket.endpoint/key. */
  readonly forcePathStyle?: boolean;
}

/** Where and as whom requests go: settled once per client. */
export interface ResolvedStore {
  readonly endpoint: URL;
  readonly region: string;
  readonly pathStyle: boolean;
  readonly credentials: () => Promise<Credentials>;
  /** Where the credentials came from, for messages (never the secret). */
  readonly credentialSource: string;
}

/**
 * Settles endpoint, region and credentials the way the AWS CLI and SDKs look for them: the job's
 * settings, then AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, the
 * profile (AWS_PROFILE) in the shared config and credentials files; credentials from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), then the profile, then web
 * identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, as a Kubernetes service account sets them).
 */
export async function resolveStore(options: S3Options, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedStore> {
  const profile = await loadProfile(env);
  const p = profile.settings;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? p.region ?? 'us-east-1';
  const endpointText =
    options.endpoint ??
    env.AWS_ENDPOINT_URL_S3 ??
    env.AWS_ENDPOINT_URL ??
    p.endpoint_url ??
    `https://s3.${region}.amazonaws.com`;
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText);
  } catch {
    throw new UsageError(
      `s3: endpoint "${endpointText}" is not a URL; write it as http(s)://host[:port] (parquet.endpoint or AWS_ENDPOINT_URL).`,
      { code: 's3_endpoint' },
    );
  }
  // A custom endpoint on an IP address or localhost has no per-bucket host names.
  const bare = /^(\d+\.){3}\d+$|^\[.*\]$|^localhost$/.test(endpoint.hostname);
  const pathStyle = options.forcePathStyle ?? (bare || p.s3_force_path_style === 'true');
  const { credentials, source } = credentialChain(env, p, profile.name, region);
  return { endpoint, region, pathStyle, credentials, credentialSource: source };
}

function staticCredentials(id: string, secret: string, token: string | undefined): Credentials {
  registerSecret(secret);
  registerSecret(token);
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

function credentialChain(
  env: NodeJS.ProcessEnv,
  p: Profile,
  profileName: string,
  region: string,
): { credentials: () => Promise<Credentials>; source: string } {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const c = staticCredentials(env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN);
    return { credentials: async () => c, source: 'AWS_ACCESS_KEY_ID in the environment' };
  }
  if (p.aws_access_key_id && p.aws_secret_access_key) {
    const c = staticCredentials(p.aws_access_key_id, p.aws_secret_access_key, p.aws_session_token);
    return { credentials: async () => c, source: `profile ${profileName}` };
  }
  const tokenFile = env.AWS_WEB_IDENTITY_TOKEN_FILE ?? p.web_identity_token_file;
  const roleArn = env.AWS_ROLE_ARN ?? p.role_arn;
  if (tokenFile && roleArn) {
    let cached: { creds: Credentials; expires: number } | undefined;
    const sts = env.AWS_ENDPOINT_URL_STS ?? `https://sts.${region}.amazonaws.com`;
    return {
      source: `web identity (role ${roleArn})`,
      credentials: async () => {
        // Refreshed five minutes before they expire: a long run outlives one hour's credentials.
        if (!cached || cached.expires - Date.now() < 300_000)
          cached = await assumeRoleWithWebIdentity(sts, roleArn, tokenFile, env.AWS_ROLE_SESSION_NAME);
        return cached.creds;
      },
    };
  }
  return {
    source: 'none',
    credentials: async () => {
      throw new RuntimeFailure(
        's3: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS_PROFILE with keys in ~/.aws/credentials, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN.',
        { code: 's3_credentials' },
      );
    },
  };
}

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

/** STS AssumeRoleWithWebIdentity: an unsigned call, the token file's JWT proving who we are. */
async function assumeRoleWithWebIdentity(
  endpoint: string,
  roleArn: string,
  tokenFile: string,
  sessionName = 'mlscale',
): Promise<{ creds: Credentials; expires: number }> {
  const token = (
    await readFile(tokenFile, 'utf8').catch((err: Error) => {
      throw new RuntimeFailure(`s3: cannot read AWS_WEB_IDENTITY_TOKEN_FILE ${tokenFile} (${err.message}).`, {
        code: 's3_credentials',
      });
    })
  ).trim();
  registerSecret(token);
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: roleArn,
    RoleSessionName: sessionName,
    WebIdentityToken: token,
  });
  let text: string;
  let status: number;
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throw new RuntimeFailure(`s3: STS at ${endpoint} cannot be reached (${(err as Error).message}).`, {
      code: 's3_credentials',
      cause: err,
    });
  }
  const id = tag(text, 'AccessKeyId');
  const secret = tag(text, 'SecretAccessKey');
  if (status !== 200 || !id || !secret)
    throw new RuntimeFailure(
      `s3: STS refused AssumeRoleWithWebIdentity for role ${roleArn} (${status} ${tag(text, 'Code') ?? ''}: ${tag(text, 'Message') ?? 'no message'}); check AWS_ROLE_ARN and the service account's trust policy.`,
      { code: 's3_credentials' },
    );
  const creds = staticCredentials(id, secret, tag(text, 'SessionToken'));
  const expiration = Date.parse(tag(text, 'Expiration') ?? '');
  return { creds, expires: Number.isFinite(expiration) ? expiration : Date.now() + 3_600_000 };
}
