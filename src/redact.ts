/**
 * Secrets never reach logs or errors: any `scheme://user:password@host` has its password
 * replaced, and `password=...` pairs in libpq-style strings too.
 */
export function redact(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@\s]*)@/gi, '$1:***@')
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1***');
}
