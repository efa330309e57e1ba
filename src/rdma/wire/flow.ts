/**
 * The UDP source port of a RoCE v2 flow. RoCE v2 sends every packet to UDP port 4791 and uses the
 * source port as flow entropy (IBA annex A17: ECMP and RSS hash on it), one port per queue pair so
 * that a QP's packets stay on one path, in order, while different QPs spread. Linux derives it the
 * same way for every RoCE driver (include/rdma/ib_verbs.h, rdma_get_udp_sport, used by rxe when
 * the QP's address vector is set): a 20-bit flow label, the GRH's when non-zero, else one computed
 * symmetrically from the two QP numbers (so both directions of a connection use the same port),
 * folded into the dynamic range 0xC000-0xFFFF.
 */

/** The lowest source port RoCE v2 uses (IB_ROCE_UDP_ENCAP_VALID_PORT_MIN). */
export const ROCE_SOURCE_PORT_MIN = 0xc000;

/** rdma_calc_flow_label: a 20-bit flow label from the local and remote QP numbers, symmetric in them. */
export function calcFlowLabel(localQpn: number, remoteQpn: number): number {
  let v = BigInt(localQpn >>> 0) * BigInt(remoteQpn >>> 0);
  v ^= v >> 20n;
  v ^= v >> 40n;
  return Number(v & 0xfffffn);
}

/** rdma_flow_label_to_udp_sport: a 20-bit flow label folded into 14 bits, in the dynamic port range. */
export function flowLabelToSourcePort(flowLabel: number): number {
  const low = flowLabel & 0x3fff;
  const high = flowLabel & 0xfc000;
  return ((low ^ (high >> 14)) | ROCE_SOURCE_PORT_MIN) & 0xffff;
}

/** rdma_get_udp_sport: the UDP source port of a QP's packets (flow label 0: derived from the QP numbers). */
export function roceSourcePort(localQpn: number, remoteQpn: number, flowLabel = 0): number {
  return flowLabelToSourcePort(flowLabel !== 0 ? flowLabel & 0xfffff : calcFlowLabel(localQpn, remoteQpn));
}
