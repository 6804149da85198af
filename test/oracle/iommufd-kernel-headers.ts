// Fetches Debian's linux-libc-dev for a suite into `.cache/linux-headers-<suite>/` without changing
// the system: a private apt state (sources file naming the mirror already configured on the machine,
// private lists and cache, no locking), `apt-get download`, `dpkg-deb -x` into a temporary folder,
// then an atomic rename. scripts/install-system-deps.sh may have done the same already; then the
// folder is used as is. Returns the include directory, or a reason string when it cannot be had.

import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** The Debian mirror URI configured on this machine (never hard-coded in the project). */
function debianMirror(): string | undefined {
  const candidates = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const f of candidates) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    // deb822: "URIs: http://…/debian" in a stanza whose Suites name a Debian release.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? '';
      if (uri && /\b(bookworm|trixie|sid)\b/.test(suites) && !/security/.test(suites)) return uri;
    }
    // one-line format: "deb URI suite components"
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(bookworm|trixie)\s/m.exec(text);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** Include directory of linux-libc-dev from `suite`, or `{ skip: reason }`. */
export function kernelHeaders(suite: string): { include: string } | { skip: string } {
  const dest = join(ROOT, '.cache', `linux-headers-${suite}`);
  const include = join(dest, 'usr', 'include');
  if (existsSync(join(include, 'linux', 'iommufd.h'))) return { include };
  const mirror = debianMirror();
  if (!mirror) return { skip: 'no Debian mirror configured in /etc/apt' };
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  const tmp = mkdtempSync(join(ROOT, '.cache', `apt-${suite}-`));
  try {
    mkdirSync(join(tmp, 'etc'), { recursive: true });
    mkdirSync(join(tmp, 'lists', 'partial'), { recursive: true });
    mkdirSync(join(tmp, 'cache', 'archives', 'partial'), { recursive: true });
    mkdirSync(join(tmp, 'deb'), { recursive: true });
    writeFileSync(
      join(tmp, 'etc', 'private.sources'),
      [
        'Types: deb',
        `URIs: ${mirror}`,
        `Suites: ${suite}`,
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
    const opts = [
      '-o',
      'Dir::Etc::sourcelist=/dev/null',
      '-o',
      `Dir::Etc::sourceparts=${join(tmp, 'etc')}`,
      '-o',
      `Dir::State::Lists=${join(tmp, 'lists')}`,
      '-o',
      `Dir::Cache=${join(tmp, 'cache')}`,
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'APT::Sandbox::User=root',
    ];
    execFileSync('apt-get', [...opts, 'update'], { stdio: 'pipe', timeout: 120_000 });
    execFileSync('apt-get', [...opts, 'download', `linux-libc-dev/${suite}`], {
      cwd: join(tmp, 'deb'),
      stdio: 'pipe',
      timeout: 120_000,
    });
    const deb = readdirSync(join(tmp, 'deb')).find((f) => f.endsWith('.deb'));
    if (!deb) return { skip: `apt-get download linux-libc-dev/${suite} produced no .deb` };
    const unpack = join(tmp, 'root');
    execFileSync('dpkg-deb', ['-x', join(tmp, 'deb', deb), unpack], { stdio: 'pipe' });
    if (!existsSync(dest)) renameSync(unpack, dest);
    return existsSync(join(include, 'linux', 'iommufd.h'))
      ? { include }
      : { skip: `linux-libc-dev/${suite} has no linux/iommufd.h` };
  } catch (e) {
    return {
      skip: `fetching linux-libc-dev/${suite} failed: ${(e as Error).message.split('\n')[0]}`,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
