// Static checks of a validated scenario — everything a schema cannot see, so that a scenario with
// an impossible value fails before it runs (formats.md §2, exit code 2): ioctl and member names
// against the UAPI tables (include/uapi/linux/iommufd.h spelling), UAPI constant and errno names,
// `$label`s bound before use, device and domain names, event and field names against the IHI 0070
// §7.3 tables, register names against §6.3, ID-register field overrides, and the alignment of
// guest mappings (a guest io-pgtable maps whole 4 KiB pages).

import { CMD_OP } from '../arch/cmd.ts';
import { errnoNumber } from '../arch/errno.ts';
import { EVENTS, type EventName } from '../arch/evt.ts';
import type { StructDef } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';
import { SMMU_REG_OFFSET, SMMU_REGS } from '../arch/regs.ts';
import { memberOf, SCENARIO_IOCTLS } from './ioctls.ts';
import type { Diagnostic, DocPath, Locator, Scenario } from './load.ts';
import type { Machine } from './schema.ts';
import { uapiConstant } from './uapi-names.ts';
import type { ArgTerm } from './values.ts';

/** Guest page size the guest driver's io-pgtable maps with. */
export const GUEST_PAGE = 0x1000n;

/** Default device list: one device, `vfio0`, at StreamID 0x8. */
export const DEFAULT_DEVICES: NonNullable<Machine['devices']> = [{ name: 'vfio0', sid: 8 }];

/**
 * Labels every scenario has: the iommufd fd (`iommufd`) and, per device, the fd of its VFIO cdev
 * (the device name). Guest scenarios add the objects the VMM created (GUEST_LABELS).
 */
export function predefinedLabels(m: Machine): string[] {
  const devs = m.devices ?? DEFAULT_DEVICES;
  const out = ['iommufd', ...devs.map((d) => d.name)];
  if (m.guest) {
    out.push(...GUEST_LABELS);
    for (const d of devs) out.push(`${d.name}.dev_id`, `${d.name}.vdevice`, `${d.name}.hwpt`);
  }
  return out;
}

/** Labels of the VMM's own iommufd objects in guest scenarios. */
export const GUEST_LABELS = [
  'ioas',
  'nest_parent',
  'viommu',
  'abort_hwpt',
  'bypass_hwpt',
  'veventq',
  'veventq_fd',
  'guest_ram_va',
] as const;

/** ID register tables by machine key. */
const IDR_TABLES: Readonly<Record<string, StructDef>> = {
  idr0: R.IDR0,
  idr1: R.IDR1,
  idr2: R.IDR2,
  idr3: R.IDR3,
  idr4: R.IDR4,
  idr5: R.IDR5,
  aidr: R.AIDR,
};

/** Command names a counter expectation may use. */
const COMMAND_NAMES = new Set([...Object.keys(CMD_OP), 'CFGI_ALL']);

const GUEST_KINDS = new Set([
  'attach',
  'detach',
  'hot-unplug',
  'map',
  'unmap',
  'mmio-write',
  'mmio-read',
  'cmd',
  'ste',
  'expect-events',
]);

/** Runs every static check; returns the problems found (empty = runnable). */
export function checkScenario(sc: Scenario, loc: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  const bad = (path: DocPath, msg: string, atKey = false) => out.push(loc.diag(path, msg, atKey));
  const m = sc.machine;
  checkMachine(m, bad);
  const devices = new Set((m.devices ?? DEFAULT_DEVICES).map((d) => d.name));
  const labels = new Set(predefinedLabels(m));
  const domains = new Map<string, string>();

  const needLabel = (name: string, path: DocPath) => {
    if (!labels.has(name))
      bad(path, `${pathOf(path)}: label '${name}' is not bound by an earlier step`);
  };
  const needDevice = (name: string, path: DocPath) => {
    if (!devices.has(name)) {
      bad(
        path,
        `${pathOf(path)}: no device '${name}' in machine.devices (${[...devices].join(', ')})`,
      );
    }
  };
  const needErrno = (e: string | undefined, path: DocPath) => {
    if (e !== undefined && e !== 'ok' && errnoNumber(e) === undefined) {
      bad(path, `${pathOf(path)}: unknown errno name '${e}'`);
    }
  };
  const checkTerms = (terms: readonly ArgTerm[], path: DocPath) => {
    for (const t of terms) {
      if (t.kind === 'label') needLabel(t.name, path);
      else if (t.kind === 'const' && uapiConstant(t.name) === undefined) {
        bad(path, `${pathOf(path)}: unknown UAPI constant '${t.name}'`);
      }
    }
  };
  const checkEvent = (
    e: { type: string; fields?: Record<string, bigint> | undefined },
    path: DocPath,
  ) => {
    const def = Object.hasOwn(EVENTS, e.type) ? EVENTS[e.type as EventName] : undefined;
    if (!def) {
      bad([...path, 'type'], `${pathOf([...path, 'type'])}: unknown event type '${e.type}'`);
      return;
    }
    for (const f of Object.keys(e.fields ?? {})) {
      if (f !== 'EventID' && !def.fields.some((x) => x.name === f)) {
        bad(
          [...path, 'fields', f],
          `${pathOf([...path, 'fields'])}: ${e.type} has no field '${f}' (fields: ${def.fields.map((x) => x.name).join(', ')})`,
          true,
        );
      }
    }
  };

  for (const st of sc.steps) {
    const p: DocPath = ['steps', st.index];
    const at = (...k: (string | number)[]): DocPath => [...p, ...k];
    if (GUEST_KINDS.has(st.kind) && !m.guest) {
      bad(
        at(st.kind),
        `${pathOf(p)}: '${st.kind}' is a guest step; declare machine.guest to run a guest`,
        true,
      );
      continue;
    }
    switch (st.kind) {
      case 'open':
        needErrno(st.s.expect, at('expect'));
        if (st.s.as !== undefined && (st.s.expect ?? 'ok') === 'ok') labels.add(st.s.as);
        break;
      case 'close':
        if (st.s.close.kind === 'label') needLabel(st.s.close.name, at('close'));
        needErrno(st.s.expect, at('expect'));
        break;
      case 'ioctl': {
        const def = SCENARIO_IOCTLS.get(st.s.ioctl);
        needErrno(st.s.expect, at('expect'));
        if (st.s.fd.kind === 'label') needLabel(st.s.fd.name, at('fd'));
        if (!def) {
          bad(at('ioctl'), `${pathOf(at('ioctl'))}: unknown ioctl '${st.s.ioctl}'`);
          break;
        }
        const members = def.struct.members.map((x) => x.name).join(', ');
        for (const [k, v] of Object.entries(st.s.args ?? {})) {
          const mem = memberOf(def.struct, k);
          const ap = at('args', k);
          if (!mem) {
            bad(
              ap,
              `${pathOf(at('args'))}: struct ${def.struct.name} has no member '${k}' (members: ${members})`,
              true,
            );
            continue;
          }
          if ('buffer' in v) {
            if (mem.type !== 'u64' || mem.count !== undefined) {
              bad(ap, `${pathOf(ap)}: a { buffer } is a pointer; '${k}' is not a __u64 member`);
            }
            if (v.size !== undefined && v.size < v.buffer.length * 8) {
              bad(
                [...ap, 'size'],
                `${pathOf([...ap, 'size'])}: ${v.size} bytes cannot hold ${v.buffer.length} words`,
              );
            }
            if (v.as !== undefined) labels.add(v.as);
          } else if (Array.isArray(v) && !isTerms(v)) {
            if (mem.count === undefined) {
              bad(ap, `${pathOf(ap)}: '${k}' is not an array member; join flags with | instead`);
            } else if (v.length > mem.count) {
              bad(ap, `${pathOf(ap)}: '${k}' has ${mem.count} elements, got ${v.length}`);
            }
            (v as ArgTerm[][]).forEach((t, i) => {
              checkTerms(t, [...ap, i]);
            });
          } else checkTerms(v as ArgTerm[], ap);
        }
        const ok = (st.s.expect ?? 'ok') === 'ok';
        for (const [k, l] of Object.entries(st.s.bind ?? {})) {
          if (!memberOf(def.struct, k)) {
            bad(
              at('bind', k),
              `${pathOf(at('bind'))}: struct ${def.struct.name} has no member '${k}' (members: ${members})`,
              true,
            );
          } else if (!ok) {
            bad(
              at('bind', k),
              `${pathOf(at('bind'))}: nothing to bind when the call must fail`,
              true,
            );
          } else labels.add(l);
        }
        for (const [k, v] of Object.entries(st.s.out ?? {})) {
          if (!memberOf(def.struct, k)) {
            bad(
              at('out', k),
              `${pathOf(at('out'))}: struct ${def.struct.name} has no member '${k}' (members: ${members})`,
              true,
            );
          } else if (isTerms(v)) checkTerms(v as ArgTerm[], at('out', k));
          else {
            (v as ArgTerm[][]).forEach((t, i) => {
              checkTerms(t, at('out', k, i));
            });
          }
        }
        break;
      }
      case 'read':
        if (st.s.read.kind === 'label') needLabel(st.s.read.name, at('read'));
        needErrno(st.s.expect, at('expect'));
        (st.s.events ?? []).forEach((e, i) => {
          checkEvent(e, at('events', i));
        });
        break;
      case 'memory':
      case 'write': {
        const ref = st.kind === 'memory' ? st.s.memory : st.s.write;
        if (ref.kind === 'label') needLabel(ref.name, at(st.kind));
        const n = [st.s.u32, st.s.u64, st.s.bytes].filter((x) => x !== undefined).length;
        if (n !== 1) bad(at(st.kind), `${pathOf(p)}: give exactly one of u32, u64, bytes`, true);
        break;
      }
      case 'dma': {
        needDevice(st.s.dma, at('dma'));
        const hasW = st.s.write !== undefined;
        const hasR = st.s.read !== undefined;
        if (hasW === hasR)
          bad(at('dma'), `${pathOf(p)}: give exactly one of write (data) or read (length)`, true);
        if (st.s.data !== undefined && !hasR)
          bad(at('data'), `${pathOf(at('data'))}: expected data needs read:`, true);
        if (st.s.data !== undefined && hasR && st.s.data.length !== st.s.read) {
          bad(
            at('data'),
            `${pathOf(at('data'))}: ${st.s.data.length} bytes expected but read: ${st.s.read}`,
            true,
          );
        }
        if (st.s.expect === 'fault' && st.s.data !== undefined) {
          bad(at('data'), `${pathOf(at('data'))}: a faulting DMA has no data to check`, true);
        }
        if (st.s.event !== undefined) {
          if (st.s.expect !== 'fault')
            bad(at('event'), `${pathOf(at('event'))}: an event needs expect: fault`, true);
          checkEvent(st.s.event, at('event'));
        }
        const len = hasW ? (st.s.write?.length ?? 0) : (st.s.read ?? 0);
        if (len === 0)
          bad(at(hasW ? 'write' : 'read'), `${pathOf(p)}: a DMA moves at least one byte`, true);
        break;
      }
      case 'attach': {
        needDevice(st.s.attach, at('attach'));
        needErrno(st.s.expect, at('expect'));
        // A step that expects the driver to refuse may name a PASID the driver rejects (EINVAL).
        const mustWork = (st.s.expect ?? 'ok') === 'ok';
        const type = st.s.type ?? 's1';
        const prev = domains.get(st.s.domain);
        if (prev !== undefined && st.s.type !== undefined && prev !== type) {
          bad(at('type'), `${pathOf(at('type'))}: domain '${st.s.domain}' was created as ${prev}`);
        }
        if (prev === undefined) domains.set(st.s.domain, type);
        if (st.s.ssid !== undefined) {
          if (st.s.ssid === 0 && mustWork)
            bad(at('ssid'), `${pathOf(at('ssid'))}: PASIDs start at 1 (0 is the RID)`);
          if ((prev ?? type) !== 's1')
            bad(at('ssid'), `${pathOf(at('ssid'))}: only s1 domains attach to a PASID`);
          const dev = (m.devices ?? DEFAULT_DEVICES).find((d) => d.name === st.s.attach);
          if (mustWork && dev && st.s.ssid >= 2 ** (dev['pasid-bits'] ?? 0)) {
            bad(
              at('ssid'),
              `${pathOf(at('ssid'))}: ${st.s.attach} has ${dev['pasid-bits'] ?? 0} PASID bits (machine.devices pasid-bits)`,
            );
          }
        }
        break;
      }
      case 'detach':
        needDevice(st.s.detach, at('detach'));
        needErrno(st.s.expect, at('expect'));
        break;
      case 'ste':
        needDevice(st.s.ste, at('ste'));
        break;
      case 'hot-unplug':
        needDevice(st.s['hot-unplug'], at('hot-unplug'));
        break;
      case 'map':
      case 'unmap': {
        const name = st.kind === 'map' ? st.s.map : st.s.unmap;
        needErrno(st.s.expect, at('expect'));
        const type = domains.get(name);
        if (type === undefined) {
          bad(
            at(st.kind),
            `${pathOf(at(st.kind))}: domain '${name}' is created by an earlier attach step`,
          );
        } else if (type !== 's1') {
          bad(
            at(st.kind),
            `${pathOf(at(st.kind))}: domain '${name}' is a ${type} domain; only s1 domains map`,
          );
        }
        const checks: [string, bigint | undefined][] = [
          ['iova', st.s.iova],
          ['size', st.s.size],
          ['pa', st.kind === 'map' ? st.s.pa : undefined],
        ];
        for (const [k, v] of checks) {
          if (v !== undefined && v % GUEST_PAGE !== 0n) {
            bad(
              at(k),
              `${pathOf(at(k))}: 0x${v.toString(16)} is not aligned to the 4 KiB guest page`,
            );
          }
        }
        if (st.s.size === 0n) bad(at('size'), `${pathOf(at('size'))}: size must not be 0`);
        if (st.s.iova + st.s.size > 1n << 48n) {
          bad(
            at('iova'),
            `${pathOf(at('iova'))}: the range ends beyond the 48-bit stage-1 input range`,
          );
        }
        break;
      }
      case 'mmio-write':
      case 'mmio-read': {
        const reg = st.kind === 'mmio-write' ? st.s['mmio-write'] : st.s['mmio-read'];
        if (typeof reg === 'string') {
          if (!Object.hasOwn(SMMU_REG_OFFSET, reg)) {
            bad(at(st.kind), `${pathOf(at(st.kind))}: unknown SMMU register '${reg}'`);
          }
        } else if (reg % 4 !== 0 || reg >= 0x20000) {
          bad(
            at(st.kind),
            `${pathOf(at(st.kind))}: offset 0x${reg.toString(16)} is not a 4-byte aligned offset in the two register pages`,
          );
        }
        const size =
          st.s.size ??
          (typeof reg === 'string' && SMMU_REGS[reg as keyof typeof SMMU_REGS]?.bits === 64
            ? 8
            : 4);
        if (size === 4 && st.kind === 'mmio-write' && st.s.value > 0xffff_ffffn) {
          bad(at('value'), `${pathOf(at('value'))}: a 4-byte write takes a 32-bit value`);
        }
        break;
      }
      case 'cmd':
      case 'log':
        break;
      case 'expect-events':
        st.s['expect-events'].forEach((e, i) => {
          checkEvent(e, at('expect-events', i));
        });
        break;
      case 'expect-counters': {
        const c = st.s['expect-counters'];
        for (const k of Object.keys(c.ioctls ?? {})) {
          if (!SCENARIO_IOCTLS.has(k))
            bad(at('expect-counters', 'ioctls', k), `unknown ioctl '${k}'`, true);
        }
        for (const k of Object.keys(c.smmuCommands ?? {})) {
          if (!COMMAND_NAMES.has(k))
            bad(at('expect-counters', 'smmuCommands', k), `unknown command '${k}'`, true);
        }
        if (c.guestExits !== undefined && !m.guest) {
          bad(at('expect-counters', 'guestExits'), 'guestExits needs machine.guest', true);
        }
        if (c.sanitizerReports !== undefined && m.sanitizer !== true) {
          bad(
            at('expect-counters', 'sanitizerReports'),
            'sanitizerReports needs machine.sanitizer: true',
            true,
          );
        }
        break;
      }
      case 'expect-sanitizer': {
        const e = st.s['expect-sanitizer'];
        if (m.sanitizer !== true) {
          bad(
            at('expect-sanitizer'),
            `${pathOf(p)}: 'expect-sanitizer' needs machine.sanitizer: true`,
            true,
          );
        }
        if (e.count === undefined && e.reports === undefined) {
          bad(at('expect-sanitizer'), `${pathOf(p)}: give count or reports`, true);
        }
        if (e.count !== undefined && e.reports !== undefined) {
          bad(
            at('expect-sanitizer', 'count'),
            `${pathOf(at('expect-sanitizer'))}: give count or reports, not both (reports also fixes the number)`,
            true,
          );
        }
        (e.reports ?? []).forEach((r, i) => {
          if (r.device !== undefined)
            needDevice(r.device, at('expect-sanitizer', 'reports', i, 'device'));
          if (r.vsid !== undefined && !m.guest) {
            bad(
              at('expect-sanitizer', 'reports', i, 'vsid'),
              `${pathOf(at('expect-sanitizer', 'reports', i))}: vsid needs machine.guest`,
              true,
            );
          }
          if (r.pte?.gpa !== undefined && !m.guest) {
            bad(
              at('expect-sanitizer', 'reports', i, 'pte', 'gpa'),
              `${pathOf(at('expect-sanitizer', 'reports', i, 'pte'))}: gpa needs machine.guest`,
              true,
            );
          }
        });
        break;
      }
      case 'expect-log':
        break;
    }
  }
  return out;
}

function isTerms(v: unknown[]): boolean {
  return v.length > 0 && v.every((x) => x !== null && typeof x === 'object' && 'kind' in x);
}

function pathOf(path: DocPath): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s;
}

function checkMachine(
  m: Machine,
  bad: (path: DocPath, msg: string, atKey?: boolean) => void,
): void {
  const devs = m.devices ?? DEFAULT_DEVICES;
  const names = new Set<string>();
  const sids = new Set<number>();
  const vsids = new Set<number>();
  devs.forEach((d, i) => {
    const p = ['machine', 'devices', i];
    if (names.has(d.name))
      bad([...p, 'name'], `machine.devices[${i}].name: duplicate device name '${d.name}'`);
    if (sids.has(d.sid))
      bad(
        [...p, 'sid'],
        `machine.devices[${i}].sid: StreamID 0x${d.sid.toString(16)} is used twice`,
      );
    const v = d.vsid ?? d.sid;
    if (vsids.has(v))
      bad(
        [...p, d.vsid !== undefined ? 'vsid' : 'sid'],
        `machine.devices[${i}]: guest StreamID 0x${v.toString(16)} is used twice`,
      );
    if (d.name === 'iommufd')
      bad([...p, 'name'], `machine.devices[${i}].name: 'iommufd' is reserved`);
    names.add(d.name);
    sids.add(d.sid);
    vsids.add(v);
  });
  if (devs.length === 0) bad(['machine', 'devices'], 'machine.devices: at least one device');
  for (const [reg, v] of Object.entries(m.smmu?.idr ?? {})) {
    if (typeof v !== 'object' || v === null) continue;
    const def = IDR_TABLES[reg] as StructDef;
    for (const [f, x] of Object.entries(v)) {
      const fd = def.fields.find((y) => y.name === f);
      const fp = ['machine', 'smmu', 'idr', reg, f];
      if (!fd) {
        bad(
          fp,
          `machine.smmu.idr.${reg}: no field '${f}' (fields: ${def.fields.map((y) => y.name).join(', ')})`,
          true,
        );
      } else if (x >= 2 ** (fd.hi - fd.lo + 1)) {
        bad(
          fp,
          `machine.smmu.idr.${reg}.${f}: ${x} does not fit the ${fd.hi - fd.lo + 1}-bit field`,
        );
      }
    }
  }
  const g = m.guest;
  if (g) {
    if (g.ram !== undefined && (g.ram === 0n || g.ram % GUEST_PAGE !== 0n || g.ram > 1n << 36n)) {
      bad(
        ['machine', 'guest', 'ram'],
        'machine.guest.ram: a non-zero multiple of 4 KiB, at most 64 GiB',
      );
    }
    if (g.base !== undefined && (g.base % 0x20_0000n !== 0n || g.base >= 1n << 44n)) {
      bad(['machine', 'guest', 'base'], 'machine.guest.base: 2 MiB aligned and below 2^44');
    }
  }
}
