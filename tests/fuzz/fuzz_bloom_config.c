/* libFuzzer target: arbitrary bytes as config.json text. An accepted config must satisfy the
 * documented invariants (positive sizes, head_dim * n_head == hidden_size, eps > 0). */
#include "engine/families/model_config.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_model_config cfg;
    char err[512];
    if (hs_model_config_parse((const char *)data, size, &cfg, err, sizeof err) == 0) {
        if (cfg.hidden_size <= 0 || cfg.n_head <= 0 || cfg.n_layer <= 0 || cfg.vocab_size <= 0 ||
            cfg.head_dim * cfg.n_head != cfg.hidden_size || !(cfg.layer_norm_epsilon > 0))
            abort();
    }
    return 0;
}
