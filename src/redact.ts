import { parse } from 'pg-connection-string';

// Secrets never leave the process: every text that does (logs, errors, --verbose stacks, the
// summary, the ledger, runs, the report, /metrics) passes through redact(). Two layers:
// the passwords of every connection string mlscale was given are known and replaced wherever
// they appear, in any form; and anything shaped like a password in a URL or a libpq
// `password=` pair is replaced too, for strings that were never registered.

const secrets = new Set<string>();

/** A value to hide wherever it appears: as is, percent-encoded, and escaped for JSON. */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  secrets.add(value);
  secrets.add(encodeURIComponent(value));
  // As it reads inside a JSON string (a log line, the ledger's jsonb): `"` and `\` escaped.
  secrets.add(JSON.stringify(value).slice(1, -1));
}

/** Registers the password of a connection URL or a libpq `key=value` string. */
export function registerConnectionString(text: string): void {
  const kv = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(text);
  if (kv) {
    const raw = kv[1]!;
    registerSecret(raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
    return;
  }
  try {
    registerSecret(parse(text).password ?? undefined);
  } catch {
    // Not a connection string: nothing to learn from it.
  }
}

// scheme://user:password@host: the password runs to the last '@' that a host follows, so a
// password holding '@' or a space is hidden whole.
// The user name may hold an unencoded '@' (Azure's user@server). A port followed by a path
// (host:8080/path?mail=a@b) is not a password.
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*):(?!\d+[/?#])([^\n]*?)@(?=[^@\s/?#]*(?:[\s/?#'"),;]|$))/gi;
const KV_PASSWORD = /(password\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]\S*)/gi;
const JSON_PASSWORD = /("password"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** The text with every known secret and every password-shaped value replaced by ***. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is hidden whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join('***');
  return out.replace(URL_PASSWORD, '$1:***@').replace(JSON_PASSWORD, '$1"***"').replace(KV_PASSWORD, '$1***');
}
