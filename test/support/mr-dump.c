/*
 * LD_PRELOAD'ed into rdma-core's and perftest's tools by the guest interop suite: when a tool
 * deregisters a memory region, the region's bytes as the tool holds them at that moment are written
 * to $MR_DUMP_DIR/<pid>-<address in hex>-<length>.bin, then the real ibv_dereg_mr runs. The tools
 * deregister after their last completion and before freeing the memory, so the files show what the
 * peer's WRITEs, SENDs and atomics left in the tool's memory (and what the tool's READs fetched).
 *
 * Built in the guest: cc -shared -fPIC -o mr-dump.so mr-dump.c -ldl. struct ibv_mr's leading
 * fields are libibverbs' stable ABI (infiniband/verbs.h), declared here so no -dev package is needed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct ibv_mr {
  void *context;
  void *pd;
  void *addr;
  size_t length;
  uint32_t handle;
  uint32_t lkey;
  uint32_t rkey;
};

int ibv_dereg_mr(struct ibv_mr *mr) {
  static int (*real)(struct ibv_mr *);
  if (!real) real = (int (*)(struct ibv_mr *))dlvsym(RTLD_NEXT, "ibv_dereg_mr", "IBVERBS_1.1");
  if (!real) real = (int (*)(struct ibv_mr *))dlsym(RTLD_NEXT, "ibv_dereg_mr");
  const char *dir = getenv("MR_DUMP_DIR");
  if (dir && mr && mr->addr && mr->length) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%d-%lx-%zu.bin", dir, (int)getpid(), (unsigned long)(uintptr_t)mr->addr, mr->length);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const char *p = (const char *)mr->addr;
      size_t left = mr->length;
      while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0) break;
        p += n;
        left -= (size_t)n;
      }
      close(fd);
    }
  }
  return real(mr);
}
