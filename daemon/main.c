/* surgeond entry point: dispatches to the subcommands of commands.h; --help, --version. */
#include "cli/commands.h"
#include "common/version.h"
#include "ops.h"
#include "engine/families/family.h"
#include <stdio.h>
#include <string.h>

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
    void (*usage)(FILE *out);
} subcommand;

static const subcommand subcommands[] = {
    {.name = "serve", .summary = "run the job daemon (HTTP API, queue, workers, schedules)",
     .main = hs_cmd_serve, .usage = hs_serve_usage},
    {.name = "run", .summary = "run one job spec inline; progress on stderr, result JSON on stdout",
     .main = hs_cmd_run, .usage = hs_run_usage},
    {.name = "tokenize", .summary = "print a model's token ids for a text (or --decode ids)",
     .main = hs_cmd_tokenize, .usage = hs_tokenize_usage},
    {.name = "demo-model", .summary = "write the tiny demo BLOOM with planted collapsed heads",
     .main = hs_cmd_demo_model, .usage = hs_demo_model_usage},
};
#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: surgeond <command> [flags]   (surgeond <command> --help for its flags)\n\n"
                 "Head Surgeon: diagnoses and repairs collapsed attention heads of ALiBi models (BLOOM, MPT).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        fprintf(out, "  %-11s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n  --version   print the version and the compiled backends\n"
                 "  --help      this text, followed by every command's flags\n");
}

/* What each compiled backend can do and which model families the engine reads. */
static void print_capabilities(void)
{
    for (size_t i = 0; hs_backend_at(i); i++) {
        const hs_backend_caps *c = &hs_backend_at(i)->caps;
        printf("  %s: %s memory, fused head statistics %s, training %s, KV cache %s, "
               "micro-batches %s, GEMMs fp32%s\n",
               hs_backend_at(i)->name, c->host_memory ? "host" : "device",
               c->fused_head_stats ? "yes" : "no", c->training ? "yes" : "no",
               c->kv_cache ? "yes" : "no", c->batch_accumulation ? "batched" : "one by one",
               c->precisions & (1u << HS_PRECISION_BF16) ? " and bf16" : "");
    }
    size_t n;
    const hs_family *const *f = hs_families(&n);
    printf("  model families:");
    for (size_t i = 0; i < n; i++)
        printf(" %s (%s)", f[i]->name, f[i]->architecture);
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("surgeond %s (backends: %s)\n", HS_VERSION, hs_backend_list());
        print_capabilities();
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
            printf("\n");
            subcommands[i].usage(stdout);
        }
        return 0;
    }
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "surgeond: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
