/* `surgeond demo-model --out DIR [--force]`: writes the tiny demo BLOOM with planted collapsed
 * heads (daemon/engine/demo_model.h) and prints which heads were planted. */
#include "commands.h"
#include "engine/demo/demo_model.h"
#include "common/errors.h"
#include <stdbool.h>
#include <string.h>

void hs_demo_model_usage(FILE *out)
{
    fprintf(out,
            "usage: surgeond demo-model --out DIR [--force]\n"
            "  Writes a tiny BLOOM (4 layers x 8 heads, hidden 64, byte-level BPE tokenizer) in\n"
            "  HF layout into DIR, with heads built to collapse onto position 0:\n"
            "  dead (1,6) (2,6) (3,4); bos-sink (3,6) (3,7); every other head healthy.\n"
            "  --out DIR   the model directory to create (must not exist)\n"
            "  --force     replace DIR if it exists\n");
}

int hs_cmd_demo_model(int argc, char **argv)
{
    const char *out = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            hs_demo_model_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strncmp(argv[i], "--out=", 6) == 0) {
            out = argv[i] + 6;
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
    if (hs_demo_model_write(out, force, err, sizeof err) != 0) {
        fprintf(stderr, "surgeond demo-model: %s\n", err);
        return 1;
    }
    printf("wrote the demo model to %s\nplanted heads:", out);
    for (int i = 0; i < hs_demo_planted_count; i++)
        printf(" (%d,%d) %s", hs_demo_planted[i].layer, hs_demo_planted[i].head,
               hs_head_class_name(hs_demo_planted[i].cls));
    printf("\n");
    return 0;
}
