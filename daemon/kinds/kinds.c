/* The table of job kinds (job_kinds.h). To add a kind: define `const hs_job_kind
 * hs_kind_<name>` in its own daemon/job_<name>.c, declare it below, and add one line to the
 * table. The test-only kind exists only in test builds (HS_TEST_BUILD). */
#include "kinds.h"
#include <string.h>

extern const hs_job_kind hs_kind_surgery;
extern const hs_job_kind hs_kind_diagnose;
extern const hs_job_kind hs_kind_evaluate;
extern const hs_job_kind hs_kind_generate;
extern const hs_job_kind hs_kind_inspect;
#ifdef HS_TEST_BUILD
extern const hs_job_kind hs_kind_test_steps;
#endif

const hs_job_kind *const hs_job_kinds[] = {
    &hs_kind_surgery,
    &hs_kind_diagnose,
    &hs_kind_evaluate,
    &hs_kind_generate,
    &hs_kind_inspect,
#ifdef HS_TEST_BUILD
    &hs_kind_test_steps,
#endif
    NULL /* terminator: keeps the table valid when no kind is compiled in */
};

const size_t hs_job_kind_count = sizeof hs_job_kinds / sizeof hs_job_kinds[0] - 1;

const hs_job_kind *hs_job_kind_find(const char *name)
{
    for (size_t i = 0; name && i < hs_job_kind_count; i++)
        if (strcmp(hs_job_kinds[i]->name, name) == 0)
            return hs_job_kinds[i];
    return NULL;
}
