import { describe, expect, it } from 'vitest';
import { maxApicId, needsX2apic } from './guest.js';

const topo = (sockets: number, dies: number, cores: number, threads: number) => ({ sockets, dies, cores, threads });

describe('x2APIC', () => {
  it('APIC IDs pack each topology level into a power of two, as QEMU does', () => {
    expect(maxApicId({ vcpus: 16, topology: topo(2, 1, 8, 1) })).toBe(15);
    // 3 sockets x 65 cores: 7 core bits, so the last vCPU (socket 2, core 64) is 2 << 7 | 64 = 320.
    expect(maxApicId({ vcpus: 195, topology: topo(3, 1, 65, 1) })).toBe(320);
    // dies and threads: socket 1, die 1, core 2, thread 1 of 2 x 2 x 3 x 2.
    expect(maxApicId({ vcpus: 24, topology: topo(2, 2, 3, 2) })).toBe((1 << 4) | (1 << 3) | (2 << 1) | 1);
  });

  it('is needed above 255 vCPUs or APIC ID 254', () => {
    expect(needsX2apic({ vcpus: 255, topology: topo(1, 1, 255, 1) })).toBe(false);
    expect(needsX2apic({ vcpus: 256, topology: topo(1, 1, 256, 1) })).toBe(true);
    expect(needsX2apic({ vcpus: 195, topology: topo(3, 1, 65, 1) })).toBe(true);
  });
});
