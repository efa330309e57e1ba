/**
 * Reads placements back from the JSON `numaplan place --json` prints (`{"ok":true,"placements":
 * [...]}`), or a single placement object, or an array of them. Validates only what the emitters
 * read; anything wrong is an EmitError (ERR_PLACEMENT_FILE) naming the file and the field.
 */
import { z } from 'zod';
import { EmitError } from './errors.js';
import type { PlacementLike } from './guest.js';

const int = z.number().int().nonnegative();

const PlacementSchema = z.object({
  name: z.string().min(1),
  cpus: z.array(int).min(1),
  emulatorCpus: z.array(int).default([]),
  memoryByNode: z.record(z.string().regex(/^\d+$/, 'node ids are whole numbers'), int),
  pageSize: z.number().int().positive(),
  /** Absent in files written before the field existed: those placements were bound strictly. */
  memoryPolicy: z.enum(['bind', 'preferred', 'interleave']).default('bind'),
  cpuPolicy: z.enum(['dedicated', 'shared']).default('dedicated'),
  devices: z
    .array(
      z.object({
        address: z.string().regex(/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/, 'expected a PCI address like 0000:3b:00.0'),
        kind: z.enum(['rdma', 'rdma-vf', 'nic', 'vf', 'gpu', 'pci']),
        node: int.nullable(),
        local: z.boolean(),
        physfn: z.string().nullable(),
      }),
    )
    .default([]),
  /** The I/O plan (io-threads.ts); absent for placements without an I/O part. */
  io: z
    .object({
      node: int,
      deviceNode: int.nullable().default(null),
      why: z.string().default(''),
      source: z.enum(['vcpus', 'dedicated', 'siblings']),
      cpus: z.array(int).min(1),
      emulatorCpus: z.array(int).min(1),
      iothreads: z.array(z.object({ id: z.number().int().positive(), cpus: z.array(int).min(1), disks: z.array(int) })),
      devices: z.array(
        z.object({
          kind: z.enum(['disk', 'net']),
          index: int,
          queues: z.number().int().positive().nullable(),
          iothread: z.number().int().positive().nullable(),
          vhost: z.boolean(),
          queueNodes: z.array(int),
        }),
      ),
      taken: z.array(int).default([]),
      released: z.array(int).default([]),
      notes: z.array(z.string()).default([]),
    })
    .optional(),
  vnuma: z
    .object({
      nodes: z.array(z.object({ id: int, hostNode: int, vcpus: z.array(int), memory: int, cpuless: z.boolean() })).min(1),
      distances: z.array(z.array(int)),
      devices: z.array(z.object({ address: z.string(), guestNode: int })),
    })
    .nullable(),
});

/** Parses the text of a placement file; `origin` names it in errors. */
export function parsePlacementFile(text: string, origin: string): PlacementLike[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new EmitError(origin, `not valid JSON (${(err as Error).message})`, 'ERR_PLACEMENT_FILE');
  }
  let list: unknown[];
  let prefix: string;
  if (Array.isArray(raw)) {
    list = raw;
    prefix = '';
  } else if (raw !== null && typeof raw === 'object' && 'placements' in raw) {
    const r = raw as { ok?: unknown; placements: unknown };
    if (!Array.isArray(r.placements)) throw new EmitError(`${origin}: placements`, 'must be a list', 'ERR_PLACEMENT_FILE');
    if (r.ok === false && r.placements.length === 0) throw new EmitError(origin, 'holds a refusal and no placement', 'ERR_PLACEMENT_FILE');
    list = r.placements;
    prefix = 'placements';
  } else {
    list = [raw];
    prefix = '';
  }
  if (list.length === 0) throw new EmitError(origin, 'holds no placement', 'ERR_PLACEMENT_FILE');
  return list.map((item, k) => {
    const parsed = PlacementSchema.safeParse(item);
    const at = prefix ? `${prefix}[${k}]` : Array.isArray(raw) ? `[${k}]` : '';
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = (issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      throw new EmitError(`${origin}: ${at}${path}`.replace(/: \./, ': '), issue?.message ?? 'invalid', 'ERR_PLACEMENT_FILE');
    }
    const { io, ...rest } = parsed.data;
    return io === undefined ? rest : { ...rest, io };
  });
}
