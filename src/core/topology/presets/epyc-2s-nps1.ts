/** Two-socket AMD EPYC 9004 in NPS1. */
import { epycGenoa2s, epycProvenance } from './epyc-genoa-2s.js';
import type { Preset } from './index.js';

/** 2 x EPYC 9654 (96C/192T each) in NPS1: 2 nodes of 384 GiB, distances 10/32. */
export const epyc2sNps1: Preset = {
  name: 'epyc-2s-nps1',
  description: '2 x EPYC 9654 (96C/192T each) in NPS1: 2 nodes of 384 GiB, distances 10/32; ConnectX-7 + 8 VFs and H100 per socket',
  provenance: epycProvenance(1),
  build: () => epycGenoa2s(1),
};
