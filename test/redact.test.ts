import { describe, expect, it } from 'vitest';
import { redact, registerSecret } from '../src/redact.js';

describe('redact: URLs', () => {
  it('hides the password of scheme://user:password@host, keeping everything else', () => {
    expect(redact('postgres://user:secret@host:5432/db')).toBe('postgres://user:***@host:5432/db');
    expect(redact('cannot connect to postgresql://app:hunter2@db.internal/prod (ECONNREFUSED)')).toBe(
      'cannot connect to postgresql://app:***@db.internal/prod (ECONNREFUSED)',
    );
    expect(redact('POSTGRES://User:Secret@Host/db')).toBe('POSTGRES://User:***@Host/db');
    expect(redact('postgres://u:pw@[::1]:5432/db?sslmode=require')).toBe(
      'postgres://u:***@[::1]:5432/db?sslmode=require',
    );
  });

  it('hides an empty user name’s password and leaves URLs without a password alone', () => {
    expect(redact('postgresql://:secret@host/db')).toBe('postgresql://:***@host/db');
    for (const s of [
      'postgres://user@host/db',
      'postgres://host:5432/db',
      'postgres:///db?host=/run/pg',
      'no url here',
    ])
      expect(redact(s)).toBe(s);
  });

  it('hides percent-encoded passwords, and ones with :, / or # in them', () => {
    expect(redact('postgres://u:p%40ss%20w%3Ard@host/db')).toBe('postgres://u:***@host/db');
    expect(redact('postgres://user%40corp:pw@host/db')).toBe('postgres://user%40corp:***@host/db');
    expect(redact('postgres://u:pa:ss@host/db')).toBe('postgres://u:***@host/db');
    expect(redact('postgres://u:pass/word#x@host/db')).toBe('postgres://u:***@host/db');
  });

  it('hides every URL in a text', () => {
    expect(redact('from postgres://a:one@h1/x to postgres://b:two@h2/y; also s3+https://k:three@h3')).toBe(
      'from postgres://a:***@h1/x to postgres://b:***@h2/y; also s3+https://k:***@h3',
    );
  });

  it('leaves nothing of the password behind', () => {
    for (const pw of ['secret', 'p%40ss', 'a:b:c', 'x/y?z', 'ÄÖü€'])
      expect(redact(`postgres://u:${pw}@host/db`)).not.toContain(pw);
  });
});

describe('redact: password= pairs', () => {
  it('hides libpq-style password=value, quoted or not, with blanks around =, in any case', () => {
    expect(redact('host=db password=secret user=x')).toBe('host=db password=*** user=x');
    expect(redact("host=db password='se cret' user=x")).toBe('host=db password=*** user=x');
    expect(redact("host=db password = 'se cret' user=x")).toBe('host=db password = *** user=x');
    expect(redact('PASSWORD=secret')).toBe('PASSWORD=***');
    expect(redact('PGPASSWORD=secret psql -h db')).toBe('PGPASSWORD=*** psql -h db');
    expect(redact('host=db sslpassword=k3y')).toBe('host=db sslpassword=***');
  });

  it('errs on the side of hiding too much when the value runs on', () => {
    // Not a leak: the rest of the token goes too.
    expect(redact('Password=secret;Host=x')).toBe('Password=***');
    expect(redact('postgres://host/db?password=secret&sslmode=require')).toBe('postgres://host/db?password=***');
  });
});

describe('redact: user names with @, JSON, URLs with ports', () => {
  // Azure-style user names (user@server) written without encoding: nothing is hidden.
  it("hides the password when the user name holds an unencoded '@'", () => {
    expect(redact('postgres://user@corp:pw@host/db')).toBe('postgres://user@corp:***@host/db');
  });

  // JSON (a logged config object) uses ':' not '=': nothing is hidden.
  it('hides a registered password holding a quote or a backslash inside a JSON log line', () => {
    registerSecret('q"uo\\te');
    const line = JSON.stringify({ msg: 'cannot connect as u with q"uo\\te to the server' });
    expect(line).toContain('q\\"uo\\\\te');
    expect(redact(line)).toBe(JSON.stringify({ msg: 'cannot connect as u with *** to the server' }));
  });

  it('hides a password in JSON', () => {
    expect(redact('{"user":"u","password":"sec\\"ret"}')).toBe('{"user":"u","password":"***"}');
    expect(redact('password="x y" next')).toBe('password=*** next');
  });

  // Over-redaction (no secret involved): a port followed by an '@' later in the URL is taken for
  // user:password, and the host and path are lost from the message.
  it("leaves a URL with a port and an '@' in its query alone", () => {
    expect(redact('http://host:8080/path?mail=a@b.c')).toBe('http://host:8080/path?mail=a@b.c');
  });
});
