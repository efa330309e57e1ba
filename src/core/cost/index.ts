/** The cost model: remote-access fraction, latency from distances, TLB reach, translation entries. */
export * from './model.js';
