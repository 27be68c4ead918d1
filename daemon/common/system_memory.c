/* hs_available_memory_bytes (system_memory.h) from /proc/meminfo and the cgroup v2 files. */
#include "system_memory.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long meminfo_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib >= 0 ? kib * 1024 : -1;
}

/* The first number in a one-line file, or −1 ("max" and unreadable files included). */
static long long read_number_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[64] = "";
    long long v = -1;
    if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3) != 0) {
        char *end;
        v = strtoll(buf, &end, 10);
        if (end == buf)
            v = -1;
    }
    fclose(f);
    return v;
}

long long hs_available_memory_bytes(void)
{
#ifdef HS_TEST_BUILD
    /* test builds only: a pretend amount, so tests can reach the refusals of a full machine */
    const char *pretend = getenv("HS_TEST_AVAILABLE_MEMORY");
    if (pretend && *pretend)
        return strtoll(pretend, NULL, 10);
#endif
    long long avail = meminfo_available();
    long long limit = read_number_file("/sys/fs/cgroup/memory.max");
    long long usage = read_number_file("/sys/fs/cgroup/memory.current");
    if (limit > 0 && usage >= 0) {
        long long room = limit > usage ? limit - usage : 0;
        if (avail < 0 || room < avail)
            avail = room;
    }
    return avail;
}
