/* The daemon's version string: printed by --version, answered by GET /api/v1/version and put
 * in the OpenAPI document. Kept in common/ so every layer can read it. */
#ifndef HS_VERSION_H
#define HS_VERSION_H

#define HS_VERSION "0.1.0"

#endif
