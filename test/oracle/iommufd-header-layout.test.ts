// The model's iommufd UAPI tables (src/iommufd/uapi.ts) against real kernel headers: a generated C
// program prints sizeof(struct), offsetof and sizeof of every member, and every IOMMU_* / VFIO
// cdev request number the header defines; it is compiled with `cc -I <linux-libc-dev>/usr/include`
// and its output compared with the tables. Headers: trixie-backports (7.x, every nesting struct —
// must match completely) and bookworm-backports (6.12, core structs only — the structs and members it
// has must match). Fetched on demand (test/oracle/iommufd-kernel-headers.ts); skipped with a printed
// reason only when that fails.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IOMMUFD_IOCTLS, REQ, UAPI_STRUCTS, type UapiStruct } from '../../src/iommufd/uapi.ts';
import { kernelHeaders } from './iommufd-kernel-headers.ts';

interface HeaderFacts {
  /** struct name → { size, members: name → [offset, size] } for structs present in the header. */
  structs: Map<string, { size: number; members: Map<string, [number, number]> }>;
  /** request macro → value. */
  requests: Map<string, number>;
  /** IOMMU_* request macros the header defines. */
  iommuMacros: string[];
}

function headerText(include: string): { iommufd: string; vfio: string } {
  return {
    iommufd: readFileSync(join(include, 'linux', 'iommufd.h'), 'utf8'),
    vfio: readFileSync(join(include, 'linux', 'vfio.h'), 'utf8'),
  };
}

/** Body of `struct name { … };` in the header text, or undefined. */
function structBody(text: string, name: string): string | undefined {
  const re = new RegExp(`struct\\s+${name}\\s*\\{([\\s\\S]*?)\\n\\};`);
  return re.exec(text)?.[1];
}

function memberPresent(body: string, member: string): boolean {
  // Members appear as "type name;" or "type name[N];" (possibly inside a union block).
  return new RegExp(`\\b${member}\\s*(\\[[^\\]]*\\])?\\s*;`).test(body);
}

function measure(include: string): HeaderFacts {
  const text = headerText(include);
  const lines: string[] = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <linux/types.h>',
    '#include <linux/iommufd.h>',
    '#include <linux/vfio.h>',
    'int main(void) {',
  ];
  const checked: UapiStruct[] = [];
  for (const s of Object.values(UAPI_STRUCTS) as UapiStruct[]) {
    if (s.header === 'experimental') continue;
    const body = structBody(s.header === 'linux/vfio.h' ? text.vfio : text.iommufd, s.name);
    if (body === undefined) continue;
    checked.push(s);
    lines.push(`  printf("S %s %zu\\n", "${s.name}", sizeof(struct ${s.name}));`);
    for (const m of s.members) {
      if (!memberPresent(body, m.name)) continue;
      lines.push(
        `  printf("M %s %s %zu %zu\\n", "${s.name}", "${m.name}", offsetof(struct ${s.name}, ${m.name}), sizeof(((struct ${s.name} *)0)->${m.name}));`,
      );
    }
  }
  const iommuMacros = [...text.iommufd.matchAll(/#define\s+(IOMMU_\w+)\s*\\?\s*_IO\(/g)].map(
    (m) => m[1] as string,
  );
  const vfioMacros = [
    'VFIO_DEVICE_BIND_IOMMUFD',
    'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    'VFIO_DEVICE_DETACH_IOMMUFD_PT',
  ];
  for (const mac of [...iommuMacros, ...vfioMacros]) {
    lines.push(`#ifdef ${mac}`);
    lines.push(`  printf("R %s %u\\n", "${mac}", (unsigned)(${mac}));`);
    lines.push('#endif');
  }
  lines.push('  return 0;', '}', '');
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-uapi-'));
  try {
    writeFileSync(join(dir, 'layout.c'), lines.join('\n'));
    execFileSync(
      'cc',
      ['-std=gnu11', '-I', include, '-o', join(dir, 'layout'), join(dir, 'layout.c')],
      {
        stdio: 'pipe',
      },
    );
    const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
    const facts: HeaderFacts = { structs: new Map(), requests: new Map(), iommuMacros };
    for (const line of out.trim().split('\n')) {
      const [kind, a, b, c, d] = line.split(' ');
      if (kind === 'S') facts.structs.set(a as string, { size: Number(b), members: new Map() });
      else if (kind === 'M')
        facts.structs.get(a as string)?.members.set(b as string, [Number(c), Number(d)]);
      else if (kind === 'R') facts.requests.set(a as string, Number(b));
    }
    if (facts.structs.size !== checked.length) throw new Error('C program lost structs');
    return facts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function haveCompiler(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const SUITES = [
  { suite: 'trixie-backports', complete: true },
  { suite: 'bookworm-backports', complete: false },
] as const;

for (const { suite, complete } of SUITES) {
  describe(`iommufd UAPI layout vs linux-libc-dev (${suite})`, () => {
    const cc = haveCompiler();
    const got = cc ? kernelHeaders(suite) : { skip: 'no C compiler (cc)' };
    if ('skip' in got) {
      console.log(`skipping header layout check for ${suite}: ${got.skip}`);
      it.skip(`header layout (${got.skip})`, () => {});
      return;
    }
    const facts = measure(got.include);

    it('every struct the header has matches the table (sizeof, offsetof, member sizes)', () => {
      const mismatches: string[] = [];
      for (const s of Object.values(UAPI_STRUCTS) as UapiStruct[]) {
        const h = facts.structs.get(s.name);
        if (s.header === 'experimental') continue;
        if (!h) {
          if (complete) mismatches.push(`${s.name}: missing from the header`);
          continue;
        }
        const allMembers = s.members.every((m) => h.members.has(m.name));
        if (allMembers && h.size !== s.size)
          mismatches.push(`${s.name}: sizeof ${h.size} ≠ ${s.size}`);
        if (complete && !allMembers) mismatches.push(`${s.name}: members missing in header`);
        for (const m of s.members) {
          const hm = h.members.get(m.name);
          if (!hm) continue;
          if (hm[0] !== m.offset || hm[1] !== m.size) {
            mismatches.push(
              `${s.name}.${m.name}: header @${hm[0]}/${hm[1]} ≠ model @${m.offset}/${m.size}`,
            );
          }
        }
      }
      expect(mismatches).toEqual([]);
    });

    it('every IOMMU_* request the header defines has the model number, and vice versa', () => {
      const model = new Map(IOMMUFD_IOCTLS.map((d) => [d.name, d.request]));
      const mismatches: string[] = [];
      for (const mac of facts.iommuMacros) {
        const v = facts.requests.get(mac);
        if (model.get(mac) !== v) mismatches.push(`${mac}: header ${v} ≠ model ${model.get(mac)}`);
      }
      if (complete) {
        for (const d of IOMMUFD_IOCTLS) {
          if (!facts.requests.has(d.name)) mismatches.push(`${d.name}: not in the header`);
        }
      }
      for (const mac of [
        'VFIO_DEVICE_BIND_IOMMUFD',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
        'VFIO_DEVICE_DETACH_IOMMUFD_PT',
      ] as const) {
        const v = facts.requests.get(mac);
        if (v !== undefined && v !== REQ[mac])
          mismatches.push(`${mac}: header ${v} ≠ model ${REQ[mac]}`);
      }
      expect(mismatches).toEqual([]);
      expect(facts.iommuMacros.length).toBeGreaterThan(complete ? 20 : 10);
    });

    it('the minimum sizes are offsetofend of the table member, measured in the header', () => {
      for (const d of IOMMUFD_IOCTLS) {
        const h = facts.structs.get(d.struct.name);
        const hm = h?.members.get(d.last);
        if (!hm) continue;
        expect(`${d.name} ${hm[0] + hm[1]}`).toBe(`${d.name} ${d.minSize}`);
      }
    });
  });
}
