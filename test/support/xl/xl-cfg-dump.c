/*
 * Reads an xl.cfg file with xl's own configuration parser (libxlutil: the grammar `xl create`
 * uses) and prints, as JSON on stdout, the values numaplan's xl.cfg sets, read the way xl's
 * parse_config_data reads them (tools/xl/xl_parse.c): strings, longs, lists of strings, the vnuma
 * list of lists, each pci entry through xlu_pci_parse_spec_string (xl's BDF parser), each disk
 * entry through xlu_disk_parse (xl's disk spec parser), and the vif entries as strings.
 * Exit 1 with libxlutil's own message on stderr when the file does not parse.
 *
 * Build: cc -o xl-cfg-dump xl-cfg-dump.c -lxlutil -lxenlight (Debian: libxen-dev).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxlutil.h>

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void key(const char *k, int *first) {
    if (!*first) putchar(',');
    *first = 0;
    json_string(k);
    putchar(':');
}

/* A list value: strings as strings, nested lists recursively. */
static void json_list(XLU_Config *cfg, XLU_ConfigList *list) {
    putchar('[');
    for (int i = 0;; i++) {
        XLU_ConfigValue *v = xlu_cfg_get_listitem2(list, i);
        if (!v) break;
        if (i) putchar(',');
        if (xlu_cfg_value_type(v) == XLU_STRING) {
            char *s = NULL;
            xlu_cfg_value_get_string(cfg, v, &s, 1);
            json_string(s ? s : "");
        } else {
            XLU_ConfigList *inner = NULL;
            xlu_cfg_value_get_list(cfg, v, &inner, 1);
            if (inner) json_list(cfg, inner);
            else printf("null");
        }
    }
    putchar(']');
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: xl-cfg-dump FILE\n");
        return 2;
    }
    XLU_Config *cfg = xlu_cfg_init(stderr, argv[1]);
    if (!cfg || xlu_cfg_readfile(cfg, argv[1])) return 1;
    int first = 1;
    putchar('{');
    const char *longs[] = {"vcpus", "maxvcpus", "memory", "maxmem", "videoram", NULL};
    for (int i = 0; longs[i]; i++) {
        long l;
        if (!xlu_cfg_get_long(cfg, longs[i], &l, 1)) {
            key(longs[i], &first);
            printf("%ld", l);
        }
    }
    const char *strings[] = {"name", "type", "builder", "vga", NULL};
    for (int i = 0; strings[i]; i++) {
        const char *s;
        if (!xlu_cfg_get_string(cfg, strings[i], &s, 1)) {
            key(strings[i], &first);
            json_string(s);
        }
    }
    const char *lists[] = {"cpus", "cpus_soft", "vnuma", "vif", NULL};
    for (int i = 0; lists[i]; i++) {
        XLU_ConfigList *list;
        int n;
        const char *s;
        if (!xlu_cfg_get_list(cfg, lists[i], &list, &n, 1)) {
            key(lists[i], &first);
            json_list(cfg, list);
        } else if (!xlu_cfg_get_string(cfg, lists[i], &s, 1)) {
            key(lists[i], &first);
            json_string(s);
        }
    }
    XLU_ConfigList *pcis;
    int npci;
    if (!xlu_cfg_get_list(cfg, "pci", &pcis, &npci, 0)) {
        key("pci", &first);
        putchar('[');
        for (int i = 0; i < npci; i++) {
            const char *buf = xlu_cfg_get_listitem(pcis, i);
            libxl_device_pci pci;
            libxl_device_pci_init(&pci);
            if (i) putchar(',');
            if (!buf || xlu_pci_parse_spec_string(cfg, &pci, buf)) {
                printf("null");
            } else {
                printf("{\"domain\":%u,\"bus\":%u,\"dev\":%u,\"func\":%u}", pci.domain, pci.bus, pci.dev, pci.func);
            }
            libxl_device_pci_dispose(&pci);
        }
        putchar(']');
    }
    XLU_ConfigList *disks;
    int ndisk;
    if (!xlu_cfg_get_list(cfg, "disk", &disks, &ndisk, 0)) {
        key("disk", &first);
        putchar('[');
        for (int i = 0; i < ndisk; i++) {
            const char *buf = xlu_cfg_get_listitem(disks, i);
            libxl_device_disk disk;
            libxl_device_disk_init(&disk);
            if (i) putchar(',');
            if (!buf || xlu_disk_parse(cfg, 1, &buf, &disk)) {
                printf("null");
            } else {
                printf("{\"vdev\":");
                json_string(disk.vdev ? disk.vdev : "");
                printf(",\"target\":");
                json_string(disk.pdev_path ? disk.pdev_path : "");
                printf(",\"format\":");
                json_string(libxl_disk_format_to_string(disk.format));
                printf(",\"readwrite\":%d}", disk.readwrite);
            }
            libxl_device_disk_dispose(&disk);
        }
        putchar(']');
    }
    puts("}");
    xlu_cfg_destroy(cfg);
    return 0;
}
