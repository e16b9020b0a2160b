/*  =========================================================================
    sched_sessions - sticky sessions: (frontend, client key) to backend
    =========================================================================
*/

#include "sched_sessions.h"

//  Longest table key: a frontend Identifier, a separator, a StickyKey
#define S_KEY_MAX (OFP_IDENTIFIER_MAX + 1 + OFP_LEASE_STICKY_MAX + 1)
//  Frontend Identifiers cannot hold it, so "frontend<sep>key" is unambiguous
#define S_KEY_SEPARATOR '\x1f'

typedef struct {
    char *key;                  //  frontend, separator, client key
    char *frontend;
    char *backend;
    int64_t expires_at;         //  zclock_mono
    void *lru_handle;           //  in self->lru
    void *frontend_handle;      //  in its frontend's list
    void *backend_handle;       //  in its backend's list
} s_session_t;

struct _sched_sessions_t {
    size_t max;
    zhashx_t *sessions;         //  key -> s_session_t, owned here
    zlistx_t *lru;              //  every session, least recently used first
    zhashx_t *frontends;        //  frontend -> zlistx_t of its sessions, same order
    zhashx_t *backends;         //  backend -> zlistx_t of its sessions, same order
    uint64_t evicted;
};

static void
s_list_destroy (void **item)
{
    zlistx_destroy ((zlistx_t **) item);
}

static void
s_key (char *dest, const char *frontend, const char *key)
{
    snprintf (dest, S_KEY_MAX, "%s%c%s", frontend, S_KEY_SEPARATOR, key);
}

//  Adds a session at the end (most recent) of the group's list
static void *
s_group_add (zhashx_t *groups, const char *name, s_session_t *session)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (groups, name);
    if (!list) {
        list = zlistx_new ();
        zhashx_insert (groups, name, list);
    }
    return zlistx_add_end (list, session);
}

static void
s_group_remove (zhashx_t *groups, const char *name, void *handle)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (groups, name);
    assert (list);
    zlistx_delete (list, handle);
    if (zlistx_size (list) == 0)
        zhashx_delete (groups, name);
}

static void
s_group_touch (zhashx_t *groups, const char *name, void *handle)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (groups, name);
    assert (list);
    zlistx_move_end (list, handle);
}

static size_t
s_group_size (zhashx_t *groups, const char *name)
{
    zlistx_t *list = name ? (zlistx_t *) zhashx_lookup (groups, name) : NULL;
    return list ? zlistx_size (list) : 0;
}

static void
s_session_remove (sched_sessions_t *self, s_session_t *session)
{
    zlistx_delete (self->lru, session->lru_handle);
    s_group_remove (self->frontends, session->frontend, session->frontend_handle);
    s_group_remove (self->backends, session->backend, session->backend_handle);
    char *key = session->key;
    free (session->frontend);
    free (session->backend);
    free (session);
    zhashx_delete (self->sessions, key);
    free (key);
}

sched_sessions_t *
sched_sessions_new (size_t max)
{
    assert (max >= 1);
    sched_sessions_t *self = (sched_sessions_t *) zmalloc (sizeof (sched_sessions_t));
    self->max = max;
    self->sessions = zhashx_new ();
    self->lru = zlistx_new ();
    self->frontends = zhashx_new ();
    zhashx_set_destructor (self->frontends, s_list_destroy);
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, s_list_destroy);
    return self;
}

void
sched_sessions_destroy (sched_sessions_t **self_p)
{
    assert (self_p);
    sched_sessions_t *self = *self_p;
    if (!self)
        return;
    while (zlistx_size (self->lru))
        s_session_remove (self, (s_session_t *) zlistx_head (self->lru));
    zhashx_destroy (&self->sessions);
    zlistx_destroy (&self->lru);
    zhashx_destroy (&self->frontends);
    zhashx_destroy (&self->backends);
    free (self);
    *self_p = NULL;
}

const char *
sched_sessions_lookup (sched_sessions_t *self, const char *frontend, const char *key, int64_t now)
{
    assert (self && frontend && key);
    char name [S_KEY_MAX];
    s_key (name, frontend, key);
    s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, name);
    if (session && session->expires_at <= now) {
        s_session_remove (self, session);
        session = NULL;
    }
    return session ? session->backend : NULL;
}

void
sched_sessions_pin (sched_sessions_t *self, const char *frontend, const char *key,
                    const char *backend, int64_t now, int64_t expiry_ms)
{
    assert (self && frontend && key && backend);
    char name [S_KEY_MAX];
    s_key (name, frontend, key);
    s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, name);
    if (session && !streq (session->backend, backend)) {
        //  Moving to another backend: start afresh
        s_session_remove (self, session);
        session = NULL;
    }
    if (session) {
        zlistx_move_end (self->lru, session->lru_handle);
        s_group_touch (self->frontends, frontend, session->frontend_handle);
        s_group_touch (self->backends, backend, session->backend_handle);
    }
    else {
        if (zlistx_size (self->lru) >= self->max) {
            s_session_remove (self, (s_session_t *) zlistx_head (self->lru));
            self->evicted++;
        }
        session = (s_session_t *) zmalloc (sizeof (s_session_t));
        session->key = strdup (name);
        session->frontend = strdup (frontend);
        session->backend = strdup (backend);
        session->lru_handle = zlistx_add_end (self->lru, session);
        session->frontend_handle = s_group_add (self->frontends, frontend, session);
        session->backend_handle = s_group_add (self->backends, backend, session);
        zhashx_insert (self->sessions, name, session);
    }
    session->expires_at = now + expiry_ms;
}

//  Removes every session of the list (a temporary copy) and destroys it
static size_t
s_remove_all (sched_sessions_t *self, zlistx_t **doomed_p)
{
    size_t count = zlistx_size (*doomed_p);
    for (s_session_t *session = (s_session_t *) zlistx_first (*doomed_p); session;
         session = (s_session_t *) zlistx_next (*doomed_p))
        s_session_remove (self, session);
    zlistx_destroy (doomed_p);
    return count;
}

size_t
sched_sessions_drop (sched_sessions_t *self, const char *frontend, const char *backend)
{
    assert (self);
    //  Collect first: removing empties and destroys the lists being walked
    zlistx_t *doomed = zlistx_new ();
    zlistx_t *list = NULL;
    if (backend)
        list = (zlistx_t *) zhashx_lookup (self->backends, backend);
    else if (frontend)
        list = (zlistx_t *) zhashx_lookup (self->frontends, frontend);
    else
        list = self->lru;
    for (s_session_t *session = list ? (s_session_t *) zlistx_first (list) : NULL; session;
         session = (s_session_t *) zlistx_next (list))
        if (!frontend || streq (session->frontend, frontend))
            zlistx_add_end (doomed, session);
    return s_remove_all (self, &doomed);
}

size_t
sched_sessions_expire (sched_sessions_t *self, int64_t now)
{
    assert (self);
    zlistx_t *doomed = zlistx_new ();
    for (zlistx_t *list = (zlistx_t *) zhashx_first (self->frontends); list;
         list = (zlistx_t *) zhashx_next (self->frontends))
        for (s_session_t *session = (s_session_t *) zlistx_first (list);
             session && session->expires_at <= now; session = (s_session_t *) zlistx_next (list))
            zlistx_add_end (doomed, session);
    return s_remove_all (self, &doomed);
}

size_t
sched_sessions_size (sched_sessions_t *self)
{
    assert (self);
    return zlistx_size (self->lru);
}

size_t
sched_sessions_of_backend (sched_sessions_t *self, const char *backend)
{
    assert (self);
    return s_group_size (self->backends, backend);
}

size_t
sched_sessions_of_frontend (sched_sessions_t *self, const char *frontend)
{
    assert (self);
    return s_group_size (self->frontends, frontend);
}

//  The client key of a session: what follows the separator in its table key
static const char *
s_client_key (s_session_t *session)
{
    return strchr (session->key, S_KEY_SEPARATOR) + 1;
}

static bool
s_matches (s_session_t *session, const char *frontend, const char *backend, const char *key)
{
    return (!frontend || streq (session->frontend, frontend))
           && (!backend || streq (session->backend, backend))
           && (!key || streq (s_client_key (session), key));
}

json_t *
sched_sessions_list (sched_sessions_t *self, const char *frontend, const char *backend,
                     const char *key, int64_t now, size_t limit, size_t *total)
{
    assert (self && total);
    json_t *list = json_array ();
    *total = 0;
    for (s_session_t *session = (s_session_t *) zlistx_last (self->lru); session;
         session = (s_session_t *) zlistx_prev (self->lru)) {
        if (session->expires_at <= now || !s_matches (session, frontend, backend, key))
            continue;
        if ((*total)++ < limit)
            json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:I}", "Frontend",
                                                    session->frontend, "Backend", session->backend,
                                                    "Key", s_client_key (session), "ExpiresInMs",
                                                    (json_int_t) (session->expires_at - now)));
    }
    return list;
}

size_t
sched_sessions_forget (sched_sessions_t *self, const char *frontend, const char *backend,
                       const char *key)
{
    assert (self);
    if (!key)
        return sched_sessions_drop (self, frontend, backend);
    zlistx_t *doomed = zlistx_new ();
    for (s_session_t *session = (s_session_t *) zlistx_first (self->lru); session;
         session = (s_session_t *) zlistx_next (self->lru))
        if (s_matches (session, frontend, backend, key))
            zlistx_add_end (doomed, session);
    return s_remove_all (self, &doomed);
}

uint64_t
sched_sessions_evicted (sched_sessions_t *self)
{
    assert (self);
    return self->evicted;
}

//  --------------------------------------------------------------------------
//  Self test

#define S_TEST_EXPIRY 10000

void
sched_sessions_test (bool verbose)
{
    printf (" * sched_sessions: ");
    if (verbose)
        printf ("\n");
    sched_sessions_t *sessions = sched_sessions_new (3);
    int64_t now = 1000;

    //  Pin, find, slide
    assert (sched_sessions_lookup (sessions, "f1", "alice", now) == NULL);
    sched_sessions_pin (sessions, "f1", "alice", "b1", now, S_TEST_EXPIRY);
    assert (streq (sched_sessions_lookup (sessions, "f1", "alice", now + 1), "b1"));
    assert (sched_sessions_lookup (sessions, "f2", "alice", now) == NULL);
    sched_sessions_pin (sessions, "f1", "alice", "b1", now + 5000, S_TEST_EXPIRY);
    assert (streq (sched_sessions_lookup (sessions, "f1", "alice", now + 12000), "b1"));
    assert (sched_sessions_lookup (sessions, "f1", "alice", now + 15000) == NULL);
    assert (sched_sessions_size (sessions) == 0);
    assert (sched_sessions_of_frontend (sessions, "f1") == 0);

    //  Keys are not confused across frontends, and a key may hold anything
    sched_sessions_pin (sessions, "f1", "x\x1f" "y", "b1", now, S_TEST_EXPIRY);
    sched_sessions_pin (sessions, "f2", "x\x1f" "y", "b2", now, S_TEST_EXPIRY);
    assert (streq (sched_sessions_lookup (sessions, "f1", "x\x1f" "y", now), "b1"));
    assert (streq (sched_sessions_lookup (sessions, "f2", "x\x1f" "y", now), "b2"));
    assert (sched_sessions_of_backend (sessions, "b2") == 1);

    //  Moving to another backend
    sched_sessions_pin (sessions, "f1", "x\x1f" "y", "b2", now, S_TEST_EXPIRY);
    assert (sched_sessions_of_backend (sessions, "b1") == 0);
    assert (sched_sessions_of_backend (sessions, "b2") == 2);

    //  Full: the least recently used goes (f2's, since f1's was just used)
    sched_sessions_pin (sessions, "f1", "bob", "b1", now, S_TEST_EXPIRY);
    sched_sessions_pin (sessions, "f1", "carol", "b1", now, S_TEST_EXPIRY);
    assert (sched_sessions_size (sessions) == 3);
    assert (sched_sessions_evicted (sessions) == 1);
    assert (sched_sessions_lookup (sessions, "f2", "x\x1f" "y", now) == NULL);
    assert (sched_sessions_of_frontend (sessions, "f1") == 3);

    //  Invalidation by backend, by frontend and backend, by frontend
    assert (sched_sessions_drop (sessions, "f2", "b1") == 0);
    assert (sched_sessions_drop (sessions, "f1", "b2") == 1);
    assert (sched_sessions_drop (sessions, NULL, "b1") == 2);
    assert (sched_sessions_size (sessions) == 0);
    sched_sessions_pin (sessions, "f1", "a", "b1", now, S_TEST_EXPIRY);
    sched_sessions_pin (sessions, "f2", "a", "b1", now, S_TEST_EXPIRY);
    assert (sched_sessions_drop (sessions, "f1", NULL) == 1);
    assert (sched_sessions_of_backend (sessions, "b1") == 1);

    //  Cleanup drops what expired, and only that
    sched_sessions_pin (sessions, "f1", "late", "b3", now + 5000, S_TEST_EXPIRY);
    assert (sched_sessions_expire (sessions, now + S_TEST_EXPIRY - 1) == 0);
    assert (sched_sessions_expire (sessions, now + S_TEST_EXPIRY) == 1);
    assert (sched_sessions_size (sessions) == 1);
    assert (sched_sessions_expire (sessions, now + 5000 + S_TEST_EXPIRY) == 1);
    assert (sched_sessions_size (sessions) == 0);
    assert (sched_sessions_drop (sessions, NULL, NULL) == 0);

    //  Listing and forgetting, as the admin API does: most recent first, filtered
    sched_sessions_pin (sessions, "f1", "ann", "b1", now, S_TEST_EXPIRY);
    sched_sessions_pin (sessions, "f2", "ann", "b2", now + 1, S_TEST_EXPIRY);
    sched_sessions_pin (sessions, "f1", "ben", "b2", now + 2, 5);
    size_t total;
    json_t *list = sched_sessions_list (sessions, NULL, NULL, NULL, now + 3, 2, &total);
    assert (total == 3 && json_array_size (list) == 2);
    assert (streq (json_string_value (json_object_get (json_array_get (list, 0), "Key")), "ben"));
    assert (json_integer_value (json_object_get (json_array_get (list, 0), "ExpiresInMs")) == 4);
    json_decref (list);
    list = sched_sessions_list (sessions, NULL, NULL, "ann", now + 3, 10, &total);
    assert (total == 2 && json_array_size (list) == 2);
    json_decref (list);
    list = sched_sessions_list (sessions, "f1", "b2", NULL, now + 100, 10, &total);
    assert (total == 0 && json_array_size (list) == 0);     //  ben's has expired
    json_decref (list);
    assert (sched_sessions_forget (sessions, "f9", NULL, "ann") == 0);
    assert (sched_sessions_forget (sessions, NULL, NULL, "ann") == 2);
    assert (sched_sessions_forget (sessions, NULL, NULL, NULL) == 1);
    assert (sched_sessions_size (sessions) == 0);

    //  Many: the bound holds and destroy frees what is left
    sched_sessions_t *many = sched_sessions_new (100);
    char key [16];
    for (int i = 0; i < 1000; i++) {
        snprintf (key, sizeof key, "k%d", i);
        sched_sessions_pin (many, i % 2 ? "f1" : "f2", key, i % 3 ? "b1" : "b2", now, S_TEST_EXPIRY);
    }
    assert (sched_sessions_size (many) == 100);
    assert (sched_sessions_evicted (many) == 900);
    assert (sched_sessions_of_frontend (many, "f1") + sched_sessions_of_frontend (many, "f2") == 100);
    sched_sessions_destroy (&many);
    sched_sessions_destroy (&sessions);
    sched_sessions_destroy (&sessions);
    printf ("OK\n");
}
