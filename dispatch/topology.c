/*
 * topology.c — physical cores and cache sizes, which set the default thread
 * count and the tile sizes. hwloc when the build has it; otherwise sysconf
 * (glibc's cache queries) and /sys core ids. Missing figures fall back to
 * conservative defaults so tile planning always has numbers.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attn_config.h"
#include "cpu.h"

#if ATTN_HAVE_HWLOC
#include <hwloc.h>
#endif

enum { DEFAULT_L1D = 32 << 10, DEFAULT_L2 = 512 << 10, DEFAULT_L3 = 8 << 20 };

#if ATTN_HAVE_HWLOC
static int probe_hwloc(attn_cpu_info *info)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return 0;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return 0;
    }
    const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    const int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    const hwloc_obj_type_t levels[3] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                        HWLOC_OBJ_L3CACHE};
    int64_t sizes[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, levels[i], 0);
        if (o && o->attr)
            sizes[i] = (int64_t)o->attr->cache.size;
    }
    hwloc_topology_destroy(topo);
    if (cores <= 0)
        return 0;
    info->physical_cores = cores;
    info->logical_cpus = pus > 0 ? pus : cores;
    info->l1d_bytes = sizes[0];
    info->l2_bytes = sizes[1];
    info->l3_bytes = sizes[2];
    info->source = "hwloc";
    return 1;
}
#endif

/* Distinct (package, core) ids of the online CPUs, from /sys; 0 if unknown. */
static int count_physical_cores(int logical)
{
    enum { MAX_IDS = 4096 };
    long ids[MAX_IDS];
    int n = 0;
    for (int cpu = 0; cpu < logical && cpu < MAX_IDS; cpu++) {
        char path[128];
        long pkg = 0, core = 0;
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        FILE *fp = fopen(path, "r");
        if (!fp || fscanf(fp, "%ld", &core) != 1) {
            if (fp)
                fclose(fp);
            return 0;
        }
        fclose(fp);
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        fp = fopen(path, "r");
        if (fp) {
            if (fscanf(fp, "%ld", &pkg) != 1)
                pkg = 0;
            fclose(fp);
        }
        const long id = pkg * 65536 + core;
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= ids[i] == id;
        if (!seen)
            ids[n++] = id;
    }
    return n;
}

static void probe_sysconf(attn_cpu_info *info)
{
    long logical = sysconf(_SC_NPROCESSORS_ONLN);
    if (logical < 1)
        logical = 1;
    const int cores = count_physical_cores((int)logical);
    info->logical_cpus = (int)logical;
    info->physical_cores = cores > 0 ? cores : (int)logical;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    info->l1d_bytes = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    info->l2_bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    info->l3_bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    info->source = "sysconf";
}

void attn_topology_probe(attn_cpu_info *info)
{
    memset(info, 0, sizeof *info);
#if ATTN_HAVE_HWLOC
    if (!probe_hwloc(info))
#endif
        probe_sysconf(info);
    if (info->l1d_bytes <= 0)
        info->l1d_bytes = DEFAULT_L1D;
    if (info->l2_bytes <= 0)
        info->l2_bytes = DEFAULT_L2;
    if (info->l3_bytes <= 0)
        info->l3_bytes = DEFAULT_L3;
}
