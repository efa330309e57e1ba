/*
 * numaplan_probe: node-to-node memory latency and read bandwidth, measured by one thread bound to a
 * CPU of node A over a buffer whose memory is bound to node B (`numaplan probe` runs it; see
 * src/adapters/probe/run-probe.ts for the contract).
 *
 *   numaplan_probe --bytes N --lat-ms MS --bw-ms MS --targets B,B,... --initiators A:CPU,A:CPU,...
 *
 * For each target node B (outer loop): map N bytes, bind them to B (mbind MPOL_BIND, before any
 * page exists, so every page is allocated on B or the allocation fails), ask for transparent huge
 * pages (fewer TLB misses in the chase; the kernel may decline), touch every page, and lay a random
 * cyclic chain of pointers through it, one per 64-byte line (Sattolo's algorithm: a single cycle
 * over every line, so the chase visits the whole buffer in an order the prefetchers cannot follow).
 * Then for each initiator A (inner loop): pin this thread to A's CPU (sched_setaffinity), and
 *   - latency: follow the chain (each load's address is the previous load's value) until lat-ms
 *     have passed, at least 2^16 loads; ns per load;
 *   - bandwidth: read the buffer sequentially, whole passes, until bw-ms have passed; MB/s;
 *   - verification, while the buffer is still mapped: sched_getaffinity and sched_getcpu (the thread
 *     ran where claimed), get_mempolicy(MPOL_F_ADDR) on the buffer (bind to B), move_pages on every
 *     page (each page's node as the kernel reports it), and the raw lines of /proc/thread-self/status
 *     (Cpus_allowed_list) and /proc/self/numa_maps (the buffer's mapping) for the caller to judge.
 * One JSON object per pair on stdout, one line each; a first line {"helper":...} says the helper
 * started; errors go to stderr with exit status 2 (bad arguments) or 1 (a system call failed).
 *
 * Raw system calls (no libnuma needed): mbind, get_mempolicy, move_pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LINE 64
#define MPOL_BIND_MODE 2
#define MPOL_F_ADDR_FLAG (1 << 1)
#define MPOL_MF_STRICT_FLAG (1 << 0)
#define MAX_NODES 1024
#define MAX_PAIRS 4096
#define MASK_WORDS (MAX_NODES / (8 * sizeof(unsigned long)))

struct initiator {
  int node;
  int cpu;
};

static void die(int code, const char *what) {
  fprintf(stderr, "numaplan_probe: %s: %s\n", what, strerror(errno));
  exit(code);
}

static void usage(const char *why) {
  fprintf(stderr, "numaplan_probe: %s\nusage: numaplan_probe --bytes N --lat-ms MS --bw-ms MS --targets B,... --initiators A:CPU,...\n", why);
  exit(2);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

/* Parses "1,2,3" into out; returns the count. */
static int parse_list(const char *s, int *out, int max) {
  int n = 0;
  while (*s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0 || v >= 65536 || n >= max) usage("bad list");
    out[n++] = (int)v;
    s = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != 0) usage("bad list");
  }
  return n;
}

/* Writes a JSON string (the raw /proc lines). */
static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') printf("\\n");
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

/* The line of `path` that starts with `prefix` (without its newline), or "" when none does. */
static void proc_line(const char *path, const char *prefix, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  size_t plen = strlen(prefix);
  while (getline(&line, &cap, f) >= 0) {
    if (strncmp(line, prefix, plen) == 0) {
      size_t len = strcspn(line, "\n");
      if (len >= size) len = size - 1;
      memcpy(out, line, len);
      out[len] = 0;
      break;
    }
  }
  free(line);
  fclose(f);
}

static int is_vma_header(const char *line) {
  return (line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f');
}

/* Start of the mapping holding `addr` (from /proc/self/maps), or 0. */
static unsigned long vma_start(void *addr) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  unsigned long lo, hi, a = (unsigned long)addr, found = 0;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) >= 0) {
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= a && a < hi) {
      found = lo;
      break;
    }
  }
  free(line);
  fclose(f);
  return found;
}

/* Bytes of transparent huge pages backing the mapping that starts at `start` (from /proc/self/smaps). */
static long long thp_bytes(unsigned long start) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char want[32];
  snprintf(want, sizeof want, "%lx-", start);
  char *line = NULL;
  size_t cap = 0;
  int in = 0;
  long long kb = -1;
  while (getline(&line, &cap, f) >= 0) {
    if (is_vma_header(line)) in = strncmp(line, want, strlen(want)) == 0;
    else if (in && strncmp(line, "AnonHugePages:", 14) == 0) {
      kb = atoll(line + 14);
      break;
    }
  }
  free(line);
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

static volatile uint64_t sink;

int main(int argc, char **argv) {
  size_t bytes = 0;
  double lat_ms = 0, bw_ms = 0;
  int targets[MAX_NODES], ntargets = 0;
  struct initiator inits[MAX_NODES];
  int ninits = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage("missing value");
    if (strcmp(a, "--bytes") == 0) bytes = strtoull(v, NULL, 10);
    else if (strcmp(a, "--lat-ms") == 0) lat_ms = atof(v);
    else if (strcmp(a, "--bw-ms") == 0) bw_ms = atof(v);
    else if (strcmp(a, "--targets") == 0) ntargets = parse_list(v, targets, MAX_NODES);
    else if (strcmp(a, "--initiators") == 0) {
      const char *s = v;
      while (*s) {
        char *end;
        long node = strtol(s, &end, 10);
        if (end == s || *end != ':' || node < 0 || node >= MAX_NODES || ninits >= MAX_NODES) usage("bad --initiators");
        s = end + 1;
        long cpu = strtol(s, &end, 10);
        if (end == s || cpu < 0 || cpu >= CPU_SETSIZE) usage("bad --initiators");
        inits[ninits].node = (int)node;
        inits[ninits].cpu = (int)cpu;
        ninits++;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != 0) usage("bad --initiators");
      }
    } else usage("unknown option");
    i++;
  }
  if (bytes < 1 << 20 || bytes % 4096 != 0) usage("--bytes: at least 1 MiB, a multiple of 4096");
  if (lat_ms <= 0 || bw_ms <= 0) usage("--lat-ms and --bw-ms must be positive");
  if (ntargets == 0 || ninits == 0) usage("--targets and --initiators must name at least one node");
  if ((long)ntargets * ninits > MAX_PAIRS) usage("too many pairs");
  for (int t = 0; t < ntargets; t++) if (targets[t] >= MAX_NODES) usage("node id too large");

  long page = sysconf(_SC_PAGESIZE);
  size_t lines = bytes / LINE;
  size_t npages = bytes / (size_t)page;
  uint32_t *order = malloc(lines * sizeof *order);
  void **pages = malloc(npages * sizeof *pages);
  int *status = malloc(npages * sizeof *status);
  int *per_node = calloc(MAX_NODES, sizeof *per_node);
  if (!order || !pages || !status || !per_node) die(1, "malloc");
  rng_state ^= (uint64_t)getpid() * 0x100000001b3ull ^ (uint64_t)now_ns();
  printf("{\"helper\":\"numaplan_probe\",\"pid\":%d,\"pageSize\":%ld,\"lines\":%zu}\n", getpid(), page, lines);
  fflush(stdout);

  for (int t = 0; t < ntargets; t++) {
    int target = targets[t];
    /* Build the buffer from a CPU of the target node when it has one (faster), else the first initiator's. */
    int build_cpu = inits[0].cpu;
    for (int k = 0; k < ninits; k++) if (inits[k].node == target) build_cpu = inits[k].cpu;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(build_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die(1, "sched_setaffinity");

    double setup0 = now_ns();
    /* 2 MiB aligned, so that transparent huge pages can back all of it. */
    size_t align = 2u << 20;
    char *raw = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) die(1, "mmap");
    char *buf = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (buf > raw) munmap(raw, (size_t)(buf - raw));
    if (buf + bytes < raw + bytes + align) munmap(buf + bytes, (size_t)(raw + bytes + align - (buf + bytes)));
    unsigned long mask[MASK_WORDS];
    memset(mask, 0, sizeof mask);
    mask[target / (8 * sizeof(unsigned long))] |= 1ul << (target % (8 * sizeof(unsigned long)));
    if (syscall(SYS_mbind, buf, bytes, MPOL_BIND_MODE, mask, (unsigned long)MAX_NODES + 1, MPOL_MF_STRICT_FLAG) != 0) die(1, "mbind");
    madvise(buf, bytes, 14 /* MADV_HUGEPAGE */);
    for (size_t off = 0; off < bytes; off += (size_t)page) buf[off] = 1;
    /* Sattolo: a random single cycle over the lines. */
    for (size_t i = 0; i < lines; i++) order[i] = (uint32_t)i;
    for (size_t i = lines - 1; i > 0; i--) {
      size_t j = (size_t)(rnd() % i);
      uint32_t x = order[i];
      order[i] = order[j];
      order[j] = x;
    }
    for (size_t i = 0; i < lines; i++) *(void **)(buf + (size_t)i * LINE) = buf + (size_t)order[i] * LINE;
    double setup_ms = (now_ns() - setup0) / 1e6;
    unsigned long start = vma_start(buf);
    long long thp = thp_bytes(start);

    for (int k = 0; k < ninits; k++) {
      int cpu = inits[k].cpu;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) die(1, "sched_setaffinity");
      sched_yield();
      int cpu_before = sched_getcpu();
      double pair0 = now_ns();

      /* Latency: a dependent chase, 16 loads per step, until the time is up. */
      void **p = (void **)buf;
      uint64_t loads = 0;
      for (int w = 0; w < 4096; w++) p = (void **)*p; /* warm the path */
      double t0 = now_ns(), t1;
      for (;;) {
        for (int r = 0; r < 256; r++) {
          p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
          p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
          p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
          p = (void **)*p; p = (void **)*p; p = (void **)*p; p = (void **)*p;
        }
        loads += 4096;
        t1 = now_ns();
        if (loads >= 65536 && t1 - t0 >= lat_ms * 1e6) break;
      }
      sink = (uint64_t)(uintptr_t)p;
      double lat_ns = (t1 - t0) / (double)loads;

      /* Bandwidth: sequential reads of the whole buffer, whole passes, until the time is up. */
      uint64_t sum = 0;
      uint64_t passes = 0;
      const uint64_t *w64 = (const uint64_t *)buf;
      size_t words = bytes / sizeof(uint64_t);
      t0 = now_ns();
      for (;;) {
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < words; i += 4) {
          s0 += w64[i];
          s1 += w64[i + 1];
          s2 += w64[i + 2];
          s3 += w64[i + 3];
        }
        sum += s0 + s1 + s2 + s3;
        passes++;
        t1 = now_ns();
        if (t1 - t0 >= bw_ms * 1e6) break;
      }
      sink = sum;
      double mbps = (double)bytes * (double)passes / ((t1 - t0) / 1e9) / 1e6;
      int cpu_after = sched_getcpu();
      double pair_ms = (now_ns() - pair0) / 1e6;

      /* Verification, while the buffer is mapped and the thread still pinned. */
      cpu_set_t got;
      CPU_ZERO(&got);
      if (sched_getaffinity(0, sizeof got, &got) != 0) die(1, "sched_getaffinity");
      int policy = -1;
      unsigned long pmask[MASK_WORDS];
      memset(pmask, 0, sizeof pmask);
      if (syscall(SYS_get_mempolicy, &policy, pmask, (unsigned long)MAX_NODES + 1, buf, MPOL_F_ADDR_FLAG) != 0) die(1, "get_mempolicy");
      for (size_t i = 0; i < npages; i++) pages[i] = buf + i * (size_t)page;
      if (syscall(SYS_move_pages, 0, npages, pages, NULL, status, 0) != 0) die(1, "move_pages");
      memset(per_node, 0, MAX_NODES * sizeof *per_node);
      long missing = 0;
      for (size_t i = 0; i < npages; i++) {
        if (status[i] >= 0 && status[i] < MAX_NODES) per_node[status[i]]++;
        else missing++;
      }
      char status_line[512], maps_line[1024], prefix[32];
      proc_line("/proc/thread-self/status", "Cpus_allowed_list:", status_line, sizeof status_line);
      snprintf(prefix, sizeof prefix, "%lx ", vma_start(buf));
      proc_line("/proc/self/numa_maps", prefix, maps_line, sizeof maps_line);

      printf("{\"initiator\":%d,\"cpu\":%d,\"target\":%d,\"latencyNs\":%.3f,\"loads\":%llu,\"bandwidthMBps\":%.1f,\"passes\":%llu,",
             inits[k].node, cpu, target, lat_ns, (unsigned long long)loads, mbps, (unsigned long long)passes);
      printf("\"pairMs\":%.1f,\"setupMs\":%.1f,\"thpBytes\":%lld,\"cpuBefore\":%d,\"cpuAfter\":%d,\"affinity\":[", pair_ms, k == 0 ? setup_ms : 0.0, thp, cpu_before, cpu_after);
      int first = 1;
      for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &got)) {
          printf("%s%d", first ? "" : ",", c);
          first = 0;
        }
      }
      printf("],\"policy\":%d,\"policyNodes\":[", policy);
      first = 1;
      for (int n = 0; n < MAX_NODES; n++) {
        if (pmask[n / (8 * sizeof(unsigned long))] & (1ul << (n % (8 * sizeof(unsigned long))))) {
          printf("%s%d", first ? "" : ",", n);
          first = 0;
        }
      }
      printf("],\"pages\":%zu,\"pagesMissing\":%ld,\"pagesByNode\":{", npages, missing);
      first = 1;
      for (int n = 0; n < MAX_NODES; n++) {
        if (per_node[n] > 0) {
          printf("%s\"%d\":%d", first ? "" : ",", n, per_node[n]);
          first = 0;
        }
      }
      printf("},\"procStatus\":");
      json_string(status_line);
      printf(",\"procNumaMaps\":");
      json_string(maps_line);
      printf("}\n");
      fflush(stdout);
    }
    munmap(buf, bytes);
  }
  free(order);
  free(pages);
  free(status);
  free(per_node);
  return 0;
}
