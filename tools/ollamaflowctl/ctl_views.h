/*  =========================================================================
    ctl_views - how ollamaflowctl shows each answer of the admin API to a
    person: which columns a list gets, what a view adds to its table
    =========================================================================
*/

#ifndef CTL_VIEWS_H_INCLUDED
#define CTL_VIEWS_H_INCLUDED

#include "ctl_print.h"

//  Lists: frontends, backends, keys, backend health, sessions, pulls
void
    ctl_views_frontends (FILE *out, json_t *rows);
void
    ctl_views_backends (FILE *out, json_t *rows);
void
    ctl_views_keys (FILE *out, json_t *rows);
void
    ctl_views_usage (FILE *out, json_t *rows);
void
    ctl_views_health (FILE *out, json_t *rows);
void
    ctl_views_sessions (FILE *out, json_t *rows);
void
    ctl_views_pulls (FILE *out, json_t *pulls);

//  One frontend's models (GET /v1.0/frontends/{id}/models)
void
    ctl_views_models (FILE *out, json_t *models);

//  The status of the system (GET /v1.0/status)
void
    ctl_views_status (FILE *out, json_t *status);

#endif
