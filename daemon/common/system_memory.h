/* How much memory this process can still take: what a job's memory estimate is checked
 * against before it allocates (a refusal names both numbers). */
#ifndef HS_SYSTEM_MEMORY_H
#define HS_SYSTEM_MEMORY_H

/* Bytes available: the smaller of the kernel's MemAvailable (/proc/meminfo) and, inside a
 * cgroup v2 with a memory limit, that limit minus the group's current usage. −1 when neither
 * can be read (the caller then skips the check). */
long long hs_available_memory_bytes(void);
/* Test builds (HS_TEST_BUILD) read the environment variable HS_TEST_AVAILABLE_MEMORY first,
 * when set, as the bytes available. */

#endif
