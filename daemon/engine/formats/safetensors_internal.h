/* Internals shared by the safetensors files (safetensors.c reader, safetensors_write.c writer,
 * safetensors_convert.c conversions): dtype sizes and the format's limits. Not for other modules. */
#ifndef HS_SAFETENSORS_INTERNAL_H
#define HS_SAFETENSORS_INTERNAL_H
#include "safetensors.h"
#include <stdint.h>

/* The reference reader's MAX_HEADER_SIZE (docs/model-families.md "safetensors"). */
#define HS_ST_MAX_HEADER_LEN 100000000ull

/* Bits per element of dt (1..128), or 0 for an invalid value. */
int hs_st_dtype_bits(hs_dtype dt);

/* Byte size of numel elements of dt into *nbytes; -1 when it overflows or a sub-byte dtype does
 * not end on a byte boundary. */
int hs_st_byte_size(hs_dtype dt, int64_t numel, uint64_t *nbytes);

#endif
