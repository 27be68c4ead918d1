/* CSV answers (RFC 4180: CRLF line ends, a header row, fields quoted when they hold a comma,
 * quote or line break) of a JSON array of flat objects, column by column. A null is an empty
 * field, a boolean true/false, an array its items joined by spaces (tags); a number is written
 * exactly as cJSON writes it in the JSON answer, so both hold the same values. */
#include "api.h"
#include "common/strbuf.h"
#include <stdio.h>
#include <string.h>

static void put(hs_strbuf *b, const char *text) { hs_strbuf_append(b, text, strlen(text)); }

static void put_field(hs_strbuf *b, const char *text)
{
    if (!strpbrk(text, ",\"\r\n"))
        return put(b, text);
    put(b, "\"");
    for (const char *p = text; *p; p++)
        hs_strbuf_append(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    put(b, "\"");
}

static void put_value(hs_strbuf *b, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return;
    if (cJSON_IsString(v))
        return put_field(b, v->valuestring);
    if (cJSON_IsBool(v))
        return put(b, cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v)) { /* the very text the JSON answer carries */
        char num[64];
        if (!cJSON_PrintPreallocated((cJSON *)v, num, sizeof num, false))
            b->failed = true;
        else
            put(b, num);
        return;
    }
    if (cJSON_IsArray(v)) {
        hs_strbuf joined = {0};
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
            if (item != v->child)
                put(&joined, " ");
            if (cJSON_IsString(item))
                put(&joined, item->valuestring);
        }
        put_field(b, joined.data ? joined.data : "");
        b->failed |= joined.failed;
        hs_strbuf_free(&joined);
    }
}

void hs_resp_csv(hs_resp *resp, const cJSON *rows, const char *const *columns, int n_columns)
{
    hs_strbuf b = {0};
    for (int c = 0; c < n_columns; c++) {
        if (c)
            put(&b, ",");
        put_field(&b, columns[c]);
    }
    put(&b, "\r\n");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        for (int c = 0; c < n_columns; c++) {
            if (c)
                put(&b, ",");
            put_value(&b, cJSON_GetObjectItemCaseSensitive(row, columns[c]));
        }
        put(&b, "\r\n");
    }
    if (b.failed || !b.data) {
        hs_strbuf_free(&b);
        return hs_resp_internal(resp, "out of memory writing CSV");
    }
    hs_resp_text(resp, 200, "text/csv; charset=utf-8", b.data, b.len, false);
}
