/* The subcommands of `surgeond`, one function each, dispatched by main.c. Each parses its own
 * flags, prints its usage with --help, and returns the process exit status. */
#ifndef HS_COMMANDS_H
#define HS_COMMANDS_H
#include <stdio.h>

int hs_cmd_serve(int argc, char **argv);      /* serve.c:      the daemon */
int hs_cmd_run(int argc, char **argv);        /* run_inline.c: run one job spec inline */
int hs_cmd_tokenize(int argc, char **argv);   /* cmd_tokenize.c */
int hs_cmd_demo_model(int argc, char **argv); /* cmd_demo_model.c */

void hs_serve_usage(FILE *out);
void hs_run_usage(FILE *out);
void hs_tokenize_usage(FILE *out);
void hs_demo_model_usage(FILE *out);

#endif
