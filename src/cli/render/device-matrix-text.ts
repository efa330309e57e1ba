/** Text view of the device affinity matrix (`numaplan topology --matrix`), laid out like `nvidia-smi topo -m`. */
import { type DeviceMatrix, LINK_CLASSES, LINK_LEGEND } from '../../core/topology/device-matrix.js';
import { table } from './table.js';

/** The matrix, a node-distance column block, then a legend of the devices and of the classes. */
export function renderDeviceMatrix(m: DeviceMatrix): string {
  if (m.devices.length === 0) return 'no GPUs, NICs, RDMA devices, NVMe or accelerators in this topology\n';
  const header = ['', ...m.devices.map((d) => d.label), 'node', ...m.nodes.map((n) => `n${n}`)];
  const rows = m.devices.map((d, i) => [
    d.label,
    ...(m.links[i] ?? []).map((l) => (l.class === 'SELF' ? 'X' : l.class)),
    d.node === null ? '?' : String(d.node),
    ...(m.nodeDistance[i] ?? []).map((x) => (x === null ? '?' : String(x))),
  ]);
  const legend = m.devices.map((d) => {
    const names = [...d.rdmaDevices, ...d.netDevices];
    return `  ${d.label.padEnd(7)} ${d.address}  ${d.class.padEnd(5)} ${names.length > 0 ? `${names.join(',')}  ` : ''}${d.name ?? ''}`.trimEnd();
  });
  const classes = LINK_CLASSES.filter((c) => c !== 'SELF').map((c) => `  ${c.padEnd(5)} ${LINK_LEGEND[c]}`);
  return [
    table(header, rows),
    '',
    'n<N>: SLIT distance from the device\'s node to node N',
    '',
    'Devices:',
    ...legend,
    '',
    'Legend:',
    '  X     the same device',
    ...classes,
    '',
  ].join('\n');
}
