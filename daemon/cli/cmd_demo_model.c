/* `surgeond demo-model --out DIR [--family bloom|mpt] [--force]`: writes a tiny demo model
 * with planted collapsed heads (daemon/engine/demo/demo_model.h) and prints which heads were
 * planted. */
#include "commands.h"
#include "engine/demo/demo_model.h"
#include "common/errors.h"
#include <stdbool.h>
#include <string.h>

void hs_demo_model_usage(FILE *out)
{
    fprintf(out,
            "usage: surgeond demo-model --out DIR [--family bloom|mpt] [--force]\n"
            "  Writes a tiny model (4 layers x 8 heads, hidden 64, byte-level BPE tokenizer) in\n"
            "  HF layout into DIR, with heads built to collapse:\n"
            "  bloom (default): onto position 0 of any English text: dead (1,6) (2,6) (3,4);\n"
            "                   bos-sink (3,6) (3,7)\n"
            "  mpt:             onto a <s> token (diagnose with \"prepend_bos\": true):\n"
            "                   dead (0,7) (1,6) (2,5) (3,7)\n"
            "  Every other head is healthy.\n"
            "  --out DIR       the model directory to create (must not exist)\n"
            "  --family NAME   bloom (default) or mpt\n"
            "  --force         replace DIR if it exists\n");
}

int hs_cmd_demo_model(int argc, char **argv)
{
    const char *out = NULL, *family = "bloom";
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            hs_demo_model_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strncmp(argv[i], "--out=", 6) == 0) {
            out = argv[i] + 6;
        } else if (strcmp(argv[i], "--family") == 0 && i + 1 < argc) {
            family = argv[++i];
        } else if (strncmp(argv[i], "--family=", 9) == 0) {
            family = argv[i] + 9;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else {
            fprintf(stderr, "surgeond demo-model: unknown or incomplete argument '%s'\n\n",
                    argv[i]);
            hs_demo_model_usage(stderr);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "surgeond demo-model: --out DIR is required\n\n");
        hs_demo_model_usage(stderr);
        return 2;
    }
    char err[HS_ERR_LEN];
    if (hs_demo_model_write_family(out, family, force, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond demo-model: %s\n", err);
        return 1;
    }
    bool mpt = strcmp(family, "mpt") == 0;
    const hs_demo_planted_head *planted = mpt ? hs_demo_mpt_planted : hs_demo_planted;
    int n_planted = mpt ? hs_demo_mpt_planted_count : hs_demo_planted_count;
    printf("wrote the %s demo model to %s\nplanted heads%s:", family, out,
           mpt ? " (on a <s> token: diagnose with prepend_bos)" : "");
    for (int i = 0; i < n_planted; i++)
        printf(" (%d,%d) %s", planted[i].layer, planted[i].head,
               hs_head_class_name(planted[i].cls));
    printf("\n");
    return 0;
}
