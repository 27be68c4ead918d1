/* MLP dormancy of a loaded model: per layer, how many of the F MLP neurons are dormant, i.e.
 * ‖row i of dense_h_to_4h.weight‖ · ‖column i of dense_4h_to_h.weight‖ < threshold. Computed
 * from the weights downloaded from the backend (no forward pass). Part of the diagnosis. */
#ifndef HS_MLP_DORMANCY_H
#define HS_MLP_DORMANCY_H
#include "engine/model/model.h"

/* dormant[l] = dormant neurons of layer l, for l < n_layer. 0, or -1 with err. */
int hs_mlp_dormancy(hs_model *m, double threshold, int *dormant, char *err,
                    size_t errlen);

#endif
