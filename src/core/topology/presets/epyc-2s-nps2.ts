/** Two-socket AMD EPYC 9004 in NPS2. */
import { epycGenoa2s, epycProvenance } from './epyc-genoa-2s.js';
import type { Preset } from './index.js';

/** 2 x EPYC 9654 (96C/192T each) in NPS2: 4 nodes of 192 GiB, distances 10/12/32. */
export const epyc2sNps2: Preset = {
  name: 'epyc-2s-nps2',
  description: '2 x EPYC 9654 (96C/192T each) in NPS2: 4 nodes of 192 GiB, distances 10/12/32; ConnectX-7 + 8 VFs and H100 per socket',
  provenance: epycProvenance(2),
  build: () => epycGenoa2s(2),
};
