import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

// The shared config and credentials files (~/.aws/config, ~/.aws/credentials), read as the AWS
// CLI reads them: INI sections, `[profile NAME]` in config, `[NAME]` in credentials.

export type Profile = Readonly<Record<string, string>>;

/** Sections of an INI file by name; keys lower-cased, values trimmed. */
export function parseIni(text: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([^\]]+)\]/.exec(line);
    if (section) {
      const name = section[1]!.trim();
      current = sections.get(name) ?? {};
      sections.set(name, current);
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    // Nested keys (`s3 =` followed by indented lines) carry nothing mlscale reads; they are skipped.
    if (kv && current && !/^\s/.test(raw)) current[kv[1]!.toLowerCase()] = kv[2]!.trim();
  }
  return sections;
}

const readIni = async (file: string) => parseIni(await readFile(file, 'utf8').catch(() => ''));

/** The profile's settings from both files (credentials win), and the profile's name. */
export async function loadProfile(env: NodeJS.ProcessEnv): Promise<{ name: string; settings: Profile }> {
  const name = env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? 'default';
  const home = env.HOME ?? homedir();
  const config = await readIni(env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config'));
  const credentials = await readIni(env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials'));
  const fromConfig = config.get(name === 'default' ? 'default' : `profile ${name}`) ?? config.get(name) ?? {};
  return { name, settings: { ...fromConfig, ...(credentials.get(name) ?? {}) } };
}
