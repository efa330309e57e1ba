/**
 * The fleet service's API contract (OpenAPI 3.1), served at `GET /openapi.json`. The web page and
 * any client read this; the routes in `routes.ts` implement it and `test/server-api.test.ts` checks
 * that every documented path answers.
 *
 * Conventions:
 * - JSON in, JSON out. Sizes are bytes (numbers) or size strings ("64G") where a VM request takes
 *   them; times are milliseconds since the epoch.
 * - Errors: `{ "error": { "code": "ERR_...", "field": "vm.vcpus" | null, "message": "..." } }` with a
 *   4xx status for anything the client can fix; 5xx only for the service's own faults.
 * - A VM that does not fit is a result, not an error: `200 { "ok": false, "reasons": [...], "hints": [...] }`.
 * - Writes need `Authorization: Bearer TOKEN`; reads too unless the service runs with --open-reads.
 *   `/health`, `/openapi.json` and the web page are always open.
 * - VM names are unique across the fleet: `/api/v1/vms/{name}` finds a VM without naming its host.
 */

import { applyStepJsonSchema } from './plans.js';
import { rebalanceRequestJsonSchema } from './rebalance-body.js';

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description: string): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema } },
});
const errors = (...codes: number[]): Record<string, unknown> =>
  Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));
const nameParam = (name: string, description: string): Record<string, unknown> => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' },
});

/** The OpenAPI document (a plain value: `JSON.stringify` it). */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'numaplan fleet service',
    version: '1',
    description:
      'Holds a fleet of hosts (their NUMA topologies) and the VMs placed on them; places VMs with the numaplan engine ' +
      '(vCPUs, memory, huge pages and devices in one decision), with two-phase claims, explanations and emitted configurations.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'token printed by `numaplan serve` on first start' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'field', 'message'],
            properties: {
              code: {
                type: 'string',
                description: 'stable error code',
                enum: [
                  'ERR_BAD_JSON', 'ERR_JSON_DEPTH', 'ERR_BODY_TOO_LARGE', 'ERR_MEDIA_TYPE', 'ERR_RANGE', 'ERR_FIELD',
                  'ERR_REQUEST', 'ERR_TOPOLOGY', 'ERR_FORMAT', 'ERR_UNAUTHORIZED', 'ERR_FORBIDDEN', 'ERR_NOT_FOUND',
                  'ERR_UNKNOWN_HOST', 'ERR_UNKNOWN_VM', 'ERR_NAME_TAKEN', 'ERR_CLAIM_EXPIRED', 'ERR_HOST_IN_USE',
                  'ERR_BUSY', 'ERR_EMIT', 'ERR_METHOD', 'ERR_INTERNAL', 'ERR_TOPOLOGY_TOO_LARGE', 'ERR_CLOSING',
                ],
              },
              field: { type: ['string', 'null'], description: 'the field at fault, e.g. "vm.vcpus"' },
              message: { type: 'string' },
            },
          },
        },
      },
      VmRequest: {
        description:
          'A VM request: the JSON form of `numaplan place --vm` (name, vcpus, memory, pageSize, cpuPolicy, smt, emulator, ' +
          'numa, maxNodes, layout, tier, devices, pairing, iothreads, disks, nets, queues, vhost, iocpus, cpus, nodes), or its compact string form "name=db,vcpus=8,memory=16G". ' +
          'Published in full by `numaplan schema`.',
        oneOf: [
          {
            type: 'object',
            required: ['name', 'vcpus', 'memory'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
              vcpus: { type: 'integer', minimum: 1, maximum: 8192 },
              memory: { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', examples: ['16G'] }] },
              pageSize: { oneOf: [{ type: 'integer' }, { type: 'string', examples: ['2M', '1G', 'auto'] }] },
              cpuPolicy: { enum: ['dedicated', 'shared'] },
              smt: { enum: ['auto', 'prefer', 'isolate', 'require'] },
              numa: { enum: ['auto', 'strict', 'preferred', 'interleave'] },
              tier: { enum: ['dram', 'hbm', 'cxl', 'gpu'] },
              devices: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    kind: { enum: ['rdma', 'rdma-vf', 'nic', 'vf', 'gpu', 'pci'] },
                    address: { type: 'string' },
                    count: { type: 'integer', minimum: 1, maximum: 64 },
                    locality: { enum: ['required', 'preferred', 'none'] },
                  },
                },
              },
              pairing: {
                enum: ['switch', 'root-port', 'host-bridge', 'node'],
                description: 'with one gpu and one NIC wish of equal counts: each GPU gets a NIC of its own no farther than this on the PCI tree',
              },
              iothreads: { type: 'integer', minimum: 0, maximum: 64 },
              disks: { type: 'integer', minimum: 0, maximum: 32 },
              nets: { type: 'integer', minimum: 0, maximum: 32 },
              queues: { type: 'integer', minimum: 1, maximum: 64 },
              vhost: { enum: ['on', 'off'] },
              iocpus: { oneOf: [{ enum: ['share', 'siblings'] }, { type: 'integer', minimum: 1, maximum: 64 }] },
            },
            additionalProperties: true,
          },
          { type: 'string', examples: ['name=db,vcpus=8,memory=16G,pages=1G'] },
        ],
      },
      RegisterHost: {
        type: 'object',
        required: ['topology'],
        properties: {
          format: {
            enum: ['auto', 'json', 'hwloc-xml', 'numactl', 'preset'],
            default: 'auto',
            description: 'json: numaplan topology JSON (object or text); hwloc-xml: `lstopo --of xml`; numactl: `numactl --hardware` text; preset: a preset name',
          },
          topology: { oneOf: [{ type: 'string' }, { type: 'object' }] },
          reserve: {
            type: 'object',
            description: 'what the host keeps for itself (default: CPU 0\'s core and max(1 GiB, 2%) of its node\'s memory)',
            properties: { cpus: { type: 'array', items: { type: 'integer', minimum: 0 } }, memory: { type: 'integer', minimum: 0 } },
          },
          accept: {
            const: 'displace',
            description: 'consent to an update that breaks VMs on the host (same as ?accept=displace): they are marked displaced instead of the update being refused',
          },
          calibration: {
            type: 'object',
            description:
              "the host's measured node-to-node matrix: the output of `numaplan probe --json` (or the `calibration` object a topology carries); " +
              'its nodes must be the host\'s; predictions for VMs on the host then come from it (400 ERR_CALIBRATION naming the field otherwise)',
          },
        },
      },
      Breakage: {
        type: 'object',
        description: 'one thing a VM holds that the host (after an update) no longer gives it: a refusal reason naming the VM',
        required: ['vm', 'resource', 'node', 'need', 'have', 'shortfall', 'detail'],
        properties: {
          vm: { type: 'string' },
          resource: { type: 'string', description: '"memory", "hugepages-2M", "hugepages-1G", "cpu:N", "device" or "node"' },
          node: { type: ['integer', 'null'] },
          need: { type: 'integer' },
          have: { type: 'integer' },
          shortfall: { type: 'integer' },
          detail: { type: 'string' },
        },
      },
      HostUpdateRefused: {
        type: 'object',
        description: '409 ERR_HOST_IN_USE: the update would break VMs that are not displaced yet',
        properties: {
          error: { type: 'object' },
          vms: { type: 'array', items: { type: 'string' }, description: 'the VMs it would break' },
          reasons: { type: 'array', items: ref('Breakage') },
        },
      },
      HostPutResult: {
        type: 'object',
        properties: {
          created: { type: 'boolean' },
          changed: { type: 'boolean', description: 'false when the host (topology, reserve, displacements) is exactly as stored' },
          host: ref('HostRow'),
          displaced: { type: 'array', items: { type: 'string' }, description: 'VMs this update marked displaced (only with accept=displace)' },
          restored: { type: 'array', items: { type: 'string' }, description: 'displaced VMs that fit the host again' },
        },
      },
      HostRow: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          source: { type: 'string' },
          generation: { type: 'integer', description: 'bumped by every change of the host or its allocations' },
          nodes: { type: 'integer' },
          cpus: { type: 'object', properties: { total: { type: 'integer' }, free: { type: 'integer' } } },
          memory: { type: 'object', properties: { total: { type: 'integer' }, free: { type: 'integer' } } },
          vms: { type: 'integer' },
          updatedAt: { type: 'integer' },
        },
      },
      HostDetail: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          generation: { type: 'integer' },
          updatedAt: { type: 'integer' },
          topology: { type: 'object', description: 'the topology model (`numaplan schema topology`)' },
          reserve: { type: 'object', properties: { cpus: { type: 'array' }, memory: { type: 'array' } } },
          capacity: {
            type: 'array',
            description: 'per node: free PUs, free whole cores, free bytes per page size',
            items: {
              type: 'object',
              properties: {
                node: { type: 'integer' },
                totalPus: { type: 'integer' },
                freePus: { type: 'array', items: { type: 'integer' } },
                wholeCores: { type: 'integer' },
                totalMemory: { type: 'integer' },
                freeMemory: { type: 'object', additionalProperties: { type: 'integer' }, description: 'page size -> free bytes' },
              },
            },
          },
          cpuOwner: { type: 'object', additionalProperties: { type: 'string' }, description: 'host CPU -> "host reserve" or VM name' },
          displaced: { type: 'array', items: { type: 'string' }, description: 'VMs on the host marked displaced' },
          vms: { type: 'array', items: ref('Vm') },
        },
      },
      Vm: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          host: { type: 'string' },
          status: { enum: ['claimed', 'committed'] },
          expiresAt: { type: ['integer', 'null'] },
          displaced: {
            type: 'object',
            description:
              'present when a host update its caller accepted left the VM without something it holds: since when (ms) and why. ' +
              'The VM keeps everything it holds (nothing new is placed on it) until released, or until an update makes it fit again.',
            properties: { since: { type: 'integer' }, reasons: { type: 'array', items: { type: 'object' } } },
          },
          createdAt: { type: 'integer' },
          allocation: { type: 'object', description: 'cpus, heldCpus, emulatorCpus, memory grants, devices, nodes, request' },
          placement: { type: 'object', description: 'the placement as decided, with its explanation and vNUMA' },
        },
      },
      RebalanceRequest: rebalanceRequestJsonSchema(),
      Plan: {
        type: 'object',
        description:
          'a rebalancing plan (`numaplan.plan/v1`, what `numaplan rebalance --json` prints and `numaplan apply-plan` reads): ordered moves ' +
          'that pay for themselves, each with its VMs before and after, its gain, cost and reason; the VMs never moved and why; the waiting VMs',
        required: ['schema', 'host', 'createdAt', 'options', 'moves', 'skipped', 'waiting', 'totals'],
        properties: {
          schema: { const: 'numaplan.plan/v1' },
          host: { type: 'string', description: "the host's topology source" },
          createdAt: { type: 'integer' },
          options: { type: 'object', description: 'the planner settings used (cooldownMs, rateBytesPerSec, threshold, minGain, horizonSec, repinSeconds, maxBytes, maxMoves, now)' },
          moves: {
            type: 'array',
            items: {
              type: 'object',
              required: ['step', 'kind', 'vms', 'gain', 'cost', 'reason'],
              properties: {
                step: { type: 'integer', minimum: 1 },
                kind: { enum: ['repin', 'move-memory', 'narrow', 'widen', 'move', 'swap', 'make-room'] },
                vms: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      vm: { type: 'string' },
                      before: { type: 'object', description: 'the allocation the plan saw (cpus, heldCpus, emulatorCpus, memory, devices, nodes, request)' },
                      after: { type: 'object', description: 'the allocation after the move' },
                      locality: { type: 'object', description: 'predicted remoteAccessFraction, relativeLatency and expectedLatencyNs before and after' },
                      memory: {
                        type: 'array',
                        description: 'memory transfers node by node, largest first',
                        items: { type: 'object', properties: { from: { type: 'integer' }, to: { type: 'integer' }, bytes: { type: 'integer' }, pageSize: { type: 'integer' } } },
                      },
                      repins: { type: 'array', items: { type: 'object', properties: { vcpu: { type: 'integer' }, from: { type: 'integer' }, to: { type: 'integer' } } } },
                    },
                  },
                },
                gain: {
                  type: 'object',
                  properties: {
                    latency: { type: 'number' },
                    freedNodes: { type: 'array', items: { type: 'integer' } },
                    freedCores: { type: 'integer' },
                    admits: { type: 'array', items: { type: 'string' } },
                    value: { type: 'number' },
                  },
                },
                cost: { type: 'object', properties: { bytes: { type: 'integer' }, seconds: { type: 'number' }, repins: { type: 'integer' }, price: { type: 'number' } } },
                reason: { type: 'string' },
              },
            },
          },
          skipped: { type: 'array', items: { type: 'object', properties: { vm: { type: 'string' }, why: { type: 'string' } } } },
          waiting: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, fitsNow: { type: 'boolean' }, admittedAt: { type: ['integer', 'null'] } } } },
          totals: { type: 'object', description: 'moves, bytes, seconds, repins, latencyBefore/After and remoteBefore/After (vCPU-weighted means)' },
        },
      },
      RebalanceResult: {
        type: 'object',
        required: ['host', 'generation', 'dryRun', 'plan'],
        properties: {
          host: { type: 'string' },
          generation: { type: 'integer', description: "the host's generation the plan was made at" },
          dryRun: { const: true },
          plan: ref('Plan'),
        },
      },
      ApplyStepRequest: applyStepJsonSchema(),
      StoredPlan: {
        type: 'object',
        description:
          'a rebalancing plan kept by the service: proposed, applied a step at a time (each step checked against the host as it is then and ' +
          'committed under its generation; what the move frees held by a claim until the step is reported done), stale (a step no longer ' +
          'applies: plan again), cancelled, or applied',
        required: ['id', 'host', 'status', 'version', 'steps', 'nextStep', 'next', 'progress', 'createdAt', 'updatedAt', 'plan'],
        properties: {
          id: { type: 'string', pattern: '^p[0-9a-f]{12}$' },
          host: { type: 'string', description: 'the host (service name) the plan is for' },
          status: { enum: ['proposed', 'applying', 'applied', 'cancelled', 'stale'] },
          version: { type: 'integer', minimum: 1, description: 'bumped by every change of the plan' },
          steps: { type: 'integer', minimum: 0 },
          nextStep: { type: ['integer', 'null'], description: 'the step the next apply carries out (null: none left, or the plan ended)' },
          next: {
            type: ['object', 'null'],
            description: 'the next step: its kind, reason, VMs and the host commands that carry it out (virsh, migratepages), VM by VM',
            properties: { step: { type: 'integer' }, kind: { type: 'string' }, reason: { type: 'string' }, vms: { type: 'array', items: { type: 'string' } }, commands: { type: 'array', items: { type: 'object' } } },
          },
          progress: {
            type: 'object',
            required: ['steps', 'refused', 'cancelledAt'],
            properties: {
              steps: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['step', 'appliedAt', 'instance', 'hold', 'doneAt'],
                  properties: {
                    step: { type: 'integer' },
                    appliedAt: { type: 'integer' },
                    instance: { type: 'string' },
                    hold: { type: ['object', 'null'], properties: { name: { type: 'string' }, expiresAt: { type: 'integer' } } },
                    doneAt: { type: ['integer', 'null'] },
                  },
                },
              },
              refused: { type: ['object', 'null'], properties: { step: { type: 'integer' }, code: { type: 'string' }, reasons: { type: 'array', items: { type: 'string' } }, at: { type: 'integer' } } },
              cancelledAt: { type: ['integer', 'null'] },
            },
          },
          createdAt: { type: 'integer' },
          updatedAt: { type: 'integer' },
          plan: ref('Plan'),
          applied: {
            type: 'object',
            description: 'present in the answer of an apply: the step applied, its VMs, its hold (null: nothing held) and the commands to run on the host',
            properties: { step: { type: 'integer' }, vms: { type: 'array', items: { type: 'string' } }, hold: { type: ['object', 'null'] }, commands: { type: 'array', items: { type: 'object' } } },
          },
        },
      },
      PlaceRequest: {
        type: 'object',
        required: ['vm'],
        properties: {
          vm: ref('VmRequest'),
          host: { type: 'string', description: 'place on this host; omitted: the service picks the best-scoring host' },
          policy: { type: 'string', default: 'numaplan' },
          claim: {
            type: 'boolean',
            default: false,
            description: 'true: a two-phase claim that lapses after ttlSeconds unless committed',
          },
          ttlSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
        },
      },
      PlaceResult: {
        oneOf: [
          {
            type: 'object',
            properties: {
              ok: { const: true },
              host: { type: 'string' },
              status: { enum: ['claimed', 'committed'] },
              expiresAt: { type: ['integer', 'null'] },
              placement: { type: 'object' },
              hostsConsidered: { type: 'integer' },
            },
          },
          {
            type: 'object',
            properties: {
              ok: { const: false },
              reasons: { type: 'array', items: { type: 'object' } },
              hints: { type: 'array', items: { type: 'string' } },
              hostsConsidered: { type: 'integer' },
            },
          },
        ],
      },
    },
    responses: {
      E400: json(ref('Error'), 'bad input (the code and field say what)'),
      E401: json(ref('Error'), 'no bearer token'),
      E403: json(ref('Error'), 'wrong bearer token'),
      E404: json(ref('Error'), 'no such host, VM or plan'),
      E409: json(ref('Error'), 'conflict: name taken, claim expired, host in use, a plan step that no longer applies or a plan that has ended, or too much contention (retry)'),
      E503: json(ref('Error'), 'the service is shutting down'),
      E413: json(ref('Error'), 'body too large'),
      E415: json(ref('Error'), 'body is not application/json'),
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/health': {
      get: {
        summary: 'liveness and the store in use',
        security: [],
        responses: {
          '200': json(
            {
              type: 'object',
              properties: {
                ok: { const: true },
                store: { type: 'string' },
                durability: { enum: ['disk', 'commit'], description: 'when a write is answered: on disk, or committed (numaplan serve --durability)' },
                instance: { type: 'string' },
              },
            },
            'up',
          ),
        },
      },
    },
    '/openapi.json': { get: { summary: 'this document', security: [], responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') } } },
    '/metrics': {
      get: {
        summary:
          'Prometheus metrics: numaplan_placements_total, numaplan_refusals_total{reason}, numaplan_http_requests_total{code}, numaplan_client_aborts_total, ' +
          'numaplan_store_conflicts_total, numaplan_store_group_commits_total, numaplan_store_group_commit_requests_total, numaplan_displacements_total, numaplan_decision_seconds, numaplan_claims_in_flight, numaplan_hosts, numaplan_vms, numaplan_vms_displaced',
        responses: { '200': { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401, 403) },
      },
    },
    '/api/v1/summary': {
      get: {
        summary: 'fleet summary: hosts, nodes, CPUs and memory total/free, VMs committed, claimed and displaced',
        responses: { '200': json({ type: 'object' }, 'summary'), ...errors(401, 403) },
      },
    },
    '/api/v1/hosts': {
      get: {
        summary: 'list hosts (summary rows, sorted by name; page with `after` and `limit`)',
        parameters: [
          { name: 'after', in: 'query', schema: { type: 'string' }, description: 'names after this one' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
        ],
        responses: { '200': json({ type: 'object', properties: { hosts: { type: 'array', items: ref('HostRow') }, next: { type: ['string', 'null'] } } }, 'hosts'), ...errors(400, 401, 403) },
      },
    },
    '/api/v1/hosts/{host}': {
      parameters: [nameParam('host', 'host name')],
      get: { summary: 'one host: topology, reserve, free capacity per node, its VMs', responses: { '200': json(ref('HostDetail'), 'host'), ...errors(401, 403, 404) } },
      put: {
        summary:
          'register or update a host from any supported topology format (its VMs are kept). An update is judged against every VM on the host ' +
          '(memory per node and page size, each huge-page pool, the reserve, online and allowed CPUs, devices): one that would break a VM is ' +
          'refused with 409 and the VMs and reasons, unless accept=displace, which marks them displaced. The body is read off the event loop; ' +
          'a model larger than the body limit, or taking too long to read, is 413 ERR_TOPOLOGY_TOO_LARGE.',
        parameters: [{ name: 'accept', in: 'query', schema: { const: 'displace' }, description: 'consent to displace the VMs the update breaks' }],
        requestBody: { required: true, content: { 'application/json': { schema: ref('RegisterHost') } } },
        responses: {
          '200': json(ref('HostPutResult'), 'updated (or unchanged)'),
          '201': json(ref('HostPutResult'), 'registered'),
          '409': json(ref('HostUpdateRefused'), 'the update would break VMs (ERR_HOST_IN_USE), or too much contention (ERR_BUSY)'),
          ...errors(400, 401, 403, 413, 415, 503),
        },
      },
      delete: { summary: 'remove a host that holds no VM', responses: { '200': json({ type: 'object' }, 'removed'), ...errors(401, 403, 404, 409) } },
    },
    '/api/v1/hosts/{host}/rebalance': {
      parameters: [nameParam('host', 'host name')],
      post: {
        summary:
          "dry run: a rebalancing plan for the host's VMs as the service holds them (the planner of `numaplan rebalance`: moves whose gain " +
          'exceeds their cost by the threshold, a cool-down, a byte cap, explicit placements and device holders never moved); nothing is changed. ' +
          'The body is optional; unknown or bad fields are 400 naming the field.',
        requestBody: { required: false, content: { 'application/json': { schema: ref('RebalanceRequest') } } },
        responses: { '200': json(ref('RebalanceResult'), 'the plan'), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    '/api/v1/hosts/{host}/plans': {
      parameters: [nameParam('host', 'host name')],
      post: {
        summary: 'make a rebalancing plan for the host (the same planner and body as /rebalance) and keep it (status proposed) to be reviewed and applied',
        requestBody: { required: false, content: { 'application/json': { schema: ref('RebalanceRequest') } } },
        responses: { '201': json(ref('StoredPlan'), 'the plan, stored'), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    '/api/v1/plans': {
      get: {
        summary: 'stored plans, newest first',
        parameters: [
          { name: 'host', in: 'query', schema: { type: 'string' }, description: "only this host's plans" },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        ],
        responses: { '200': json({ type: 'object', properties: { plans: { type: 'array', items: ref('StoredPlan') } } }, 'plans'), ...errors(400, 401, 403) },
      },
    },
    '/api/v1/plans/{plan}': {
      parameters: [nameParam('plan', 'plan id')],
      get: { summary: 'one stored plan, its progress and its next step with the host commands', responses: { '200': json(ref('StoredPlan'), 'the plan'), ...errors(400, 401, 403, 404) } },
    },
    '/api/v1/plans/{plan}/apply': {
      parameters: [nameParam('plan', 'plan id')],
      post: {
        summary:
          "apply the plan's next step: checked against the host as it is now and committed under the host's generation (no placement races it); " +
          'what the move frees is held by a claim until the step is reported done or the hold lapses. 409 ERR_PLAN_STALE (the plan is then stale) ' +
          'when the host no longer allows the step; ERR_PLAN_STATE when the plan has ended; ERR_PLAN_STEP when `step` is not the next step',
        requestBody: { required: false, content: { 'application/json': { schema: ref('ApplyStepRequest') } } },
        responses: { '200': json(ref('StoredPlan'), 'the step applied (see `applied`)'), ...errors(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    '/api/v1/plans/{plan}/steps/{step}/done': {
      parameters: [nameParam('plan', 'plan id'), { name: 'step', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
      post: {
        summary: "report a step carried out on the host: its hold is released, what the move freed can be placed on",
        responses: { '200': json(ref('StoredPlan'), 'the plan'), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/api/v1/plans/{plan}/cancel': {
      parameters: [nameParam('plan', 'plan id')],
      post: { summary: 'cancel a plan: no further step is applied (steps applied stay)', responses: { '200': json(ref('StoredPlan'), 'the plan'), ...errors(400, 401, 403, 404, 409) } },
    },
    '/api/v1/vms': {
      get: {
        summary: 'list VMs (optionally of one host)',
        parameters: [
          { name: 'host', in: 'query', schema: { type: 'string' } },
          { name: 'displaced', in: 'query', schema: { enum: ['true', 'false'] }, description: 'true: only the VMs marked displaced' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
        ],
        responses: { '200': json({ type: 'object', properties: { vms: { type: 'array', items: ref('Vm') } } }, 'VMs'), ...errors(400, 401, 403) },
      },
      post: {
        summary: 'place a VM (committed, or claimed with claim=true); the service picks the host unless one is given',
        requestBody: { required: true, content: { 'application/json': { schema: ref('PlaceRequest') } } },
        responses: {
          '201': json(ref('PlaceResult'), 'placed'),
          '200': json(ref('PlaceResult'), 'does not fit: reasons and hints (ok=false)'),
          ...errors(400, 401, 403, 404, 409, 413, 415),
        },
      },
    },
    '/api/v1/vms/{vm}': {
      parameters: [nameParam('vm', 'VM name (unique in the fleet)')],
      get: { summary: 'one VM: host, status, allocation, placement with its explanation', responses: { '200': json(ref('Vm'), 'VM'), ...errors(401, 403, 404) } },
      delete: { summary: 'release a VM (claimed or committed)', responses: { '200': json({ type: 'object' }, 'released'), ...errors(401, 403, 404) } },
    },
    '/api/v1/vms/{vm}/commit': {
      parameters: [nameParam('vm', 'VM name')],
      post: { summary: 'commit a claim (409 ERR_CLAIM_EXPIRED once it lapsed)', responses: { '200': json(ref('Vm'), 'committed'), ...errors(401, 403, 404, 409) } },
    },
    '/api/v1/vms/{vm}/emit': {
      parameters: [
        nameParam('vm', 'VM name'),
        { name: 'format', in: 'query', required: true, schema: { enum: ['libvirt', 'qemu', 'xl', 'cloud-hypervisor', 'numactl'] } },
        { name: 'mode', in: 'query', schema: { enum: ['complete', 'fragment'] }, description: 'libvirt only' },
      ],
      get: {
        summary: "the VM's configuration for a target (libvirt domain XML, QEMU argv, xl.cfg, Cloud Hypervisor argv, numactl)",
        responses: {
          '200': json({ type: 'object', properties: { format: { type: 'string' }, name: { type: 'string' }, text: { type: 'string' }, argv: { type: 'array', items: { type: 'string' } } } }, 'emitted'),
          ...errors(400, 401, 403, 404),
        },
      },
    },
    '/api/v1/explain': {
      post: {
        summary: 'dry run: where a VM would go and why (each candidate host with its score or refusal); nothing is recorded',
        requestBody: { required: true, content: { 'application/json': { schema: ref('PlaceRequest') } } },
        responses: { '200': json({ type: 'object' }, 'the decision and the candidates'), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    '/api/v1/events': {
      get: {
        summary: 'the append-only event log (placements, claims, commits, releases, refusals, expiries, host changes, displacements and restorations)',
        parameters: [
          { name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 }, description: 'events with a larger id' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } },
        ],
        responses: { '200': json({ type: 'object', properties: { events: { type: 'array', items: { type: 'object' } } } }, 'events'), ...errors(400, 401, 403) },
      },
    },
    '/api/v1/policies': {
      get: { summary: 'placement policies known to the engine', responses: { '200': json({ type: 'object' }, 'policies'), ...errors(401, 403) } },
    },
  },
} as const;
