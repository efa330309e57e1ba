/**
 * The fleet of the placement kernel: hosts as ledgers, the indexes that find candidate hosts, and
 * the host choice shared by the service and the simulator (see fleet.ts).
 */
export * from './bucket-index.js';
export * from './fleet.js';
