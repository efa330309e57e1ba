/**
 * The schema identifier written into every topology document. Its own module, so that code building
 * or reading topologies does not load the schema library (start-up time of short commands).
 */
export const TOPOLOGY_SCHEMA_ID = 'numaplan.topology/v1' as const;
