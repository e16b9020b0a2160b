/*  test_configd_migrate - databases of older configds open in today's with
    nothing lost, and one of a newer configd is refused untouched.
    - Schema 1 (fixtures/configd-schema1.sql, before client API keys): same
      epoch and sequence, the fields it had, the frontends' new RequireApiKey
      false; keys can be written to it, survive a restart, and the file is
      marked with today's schema.
    - Schema 3 (fixtures/configd-schema3.sql, every field of every kind away
      from its default): every field of every object as configd-schema3.json
      (the snapshot that configd gave) says. When a later configd adds fields,
      this is the file that shows it still reads today's.
    - A newer schema: configd exits naming it, and the file is as it was. */

#include "it_harness.h"
#include <sqlite3.h>

#define S_EPOCH "c297664991494c5e"
//  What today's configd marks a file with (configd_store's S_SCHEMA_VERSION)
#define S_SCHEMA_TODAY "3"

static json_t *
s_request (zsock_t *client, const char *command, json_t *body, const char *expected)
{
    ofp_msg_t *reply = it_config_request (client, command, body, IT_TIMEOUT_MS);
    IT_ASSERT (reply, "%s was not answered", command);
    IT_ASSERT (ofp_msg_is (reply, expected), "%s answered %s: %s", command,
               ofp_msg_command (reply),
               json_string_value (json_object_get (ofp_msg_body (reply), "Message")));
    json_t *body_out = json_incref (ofp_msg_body (reply));
    ofp_msg_destroy (&reply);
    return body_out;
}

static json_t *
s_find (json_t *list, const char *id)
{
    size_t index;
    json_t *object;
    json_array_foreach (list, index, object)
        if (streq (json_string_value (json_object_get (object, "Identifier")), id))
            return object;
    return NULL;
}

static char *
s_meta (const char *path, const char *key)
{
    sqlite3 *db = NULL;
    IT_ASSERT (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
               "cannot open %s", path);
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2 (db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, NULL);
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    char *value = sqlite3_step (stmt) == SQLITE_ROW
                      ? strdup ((const char *) sqlite3_column_text (stmt, 0))
                      : NULL;
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return value;
}

//  A new database at env's path from the SQL text of fixtures/<name>
static void
s_load_fixture (it_env_t *env, const char *name)
{
    const char *fixture = getenv ("OF_FIXTURE_DIR");
    IT_ASSERT (fixture, "OF_FIXTURE_DIR is not set");
    char path [512];
    snprintf (path, sizeof path, "%s/%s", fixture, name);
    char *sql = zsys_sprintf ("%s", "");
    FILE *file = fopen (path, "r");
    IT_ASSERT (file, "cannot read %s", path);
    char line [8192];
    while (fgets (line, sizeof line, file)) {
        char *more = zsys_sprintf ("%s%s", sql, line);
        zstr_free (&sql);
        sql = more;
    }
    fclose (file);
    unlink (env->database);
    sqlite3 *db = NULL;
    IT_ASSERT (sqlite3_open (env->database, &db) == SQLITE_OK, "cannot create %s", env->database);
    char *error = NULL;
    IT_ASSERT (sqlite3_exec (db, sql, NULL, NULL, &error) == SQLITE_OK, "%s: %s", name, error);
    sqlite3_close (db);
    zstr_free (&sql);
}

static void
s_test_schema1 (it_env_t *env)
{
    //  The old file, as that configd left it
    s_load_fixture (env, "configd-schema1.sql");
    char *schema = s_meta (env->database, "schema");
    IT_ASSERT (schema && streq (schema, "1"), "the fixture is schema %s", schema);
    free (schema);

    zsock_t *client = it_config_client (env);
    pid_t configd = it_start (env, "ollamaflow-configd", NULL);
    json_t *state = it_config_wait (client, "SNAPSHOT");
    IT_ASSERT (streq (json_string_value (json_object_get (state, "Epoch")), S_EPOCH),
               "the epoch changed: %s", json_string_value (json_object_get (state, "Epoch")));
    IT_ASSERT (json_integer_value (json_object_get (state, "Sequence")) == 4,
               "the sequence changed");
    json_t *frontends = json_object_get (state, "Frontends");
    json_t *backends = json_object_get (state, "Backends");
    IT_ASSERT (json_array_size (frontends) == 2 && json_array_size (backends) == 2,
               "%zu frontends, %zu backends", json_array_size (frontends),
               json_array_size (backends));
    IT_ASSERT (json_array_size (json_object_get (state, "Keys")) == 0, "keys in an old file");
    json_t *main_fe = s_find (frontends, "main");
    json_t *team = s_find (frontends, "team");
    IT_ASSERT (main_fe && team, "a frontend is missing");
    IT_ASSERT (json_is_false (json_object_get (main_fe, "RequireApiKey"))
                   && json_is_false (json_object_get (team, "RequireApiKey")),
               "RequireApiKey must default to false");
    IT_ASSERT (json_is_true (json_object_get (team, "UseStickySessions"))
                   && streq (json_string_value (json_object_get (team, "Hostname")), "team.local"),
               "team's fields were lost");
    IT_ASSERT (streq (json_string_value (json_array_get (json_object_get (main_fe,
                                                                          "RequiredModels"), 0)),
                      "llama3.2:3b"),
               "main's RequiredModels were lost");
    IT_ASSERT (streq (json_string_value (json_object_get (main_fe, "CreatedUtc")),
                      "2026-12-03T13:51:19.845806Z"),
               "CreatedUtc changed");
    json_t *gpu1 = s_find (backends, "gpu1");
    json_t *gpu2 = s_find (backends, "gpu2");
    IT_ASSERT (gpu1 && streq (json_string_value (json_object_get (gpu1, "BearerToken")), "tok1"),
               "gpu1's BearerToken was lost");
    IT_ASSERT (gpu2 && streq (json_string_value (json_object_get (gpu2, "ApiFormat")), "OpenAI"),
               "gpu2's ApiFormat was lost");
    json_decref (state);

    //  The migrated file takes keys and the new field, and keeps them
    json_decref (s_request (client, "CREATE",
                            json_pack ("{s:s, s:{s:s, s:[s], s:s}}", "Kind", "key", "Object",
                                       "Identifier", "team-key", "Frontends", "team", "Priority",
                                       "low"),
                            "OBJECT"));
    json_decref (s_request (client, "PATCH",
                            json_pack ("{s:s, s:s, s:{s:b}}", "Kind", "frontend", "Identifier",
                                       "team", "Patch", "RequireApiKey", true),
                            "OBJECT"));
    int status = it_stop (configd, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    schema = s_meta (env->database, "schema");
    IT_ASSERT (schema && streq (schema, S_SCHEMA_TODAY), "the file is marked schema %s", schema);
    free (schema);

    configd = it_start (env, "ollamaflow-configd", NULL);
    state = it_config_wait (client, "SNAPSHOT");
    IT_ASSERT (json_integer_value (json_object_get (state, "Sequence")) == 6, "sequence %lld",
               (long long) json_integer_value (json_object_get (state, "Sequence")));
    json_t *key = s_find (json_object_get (state, "Keys"), "team-key");
    IT_ASSERT (key && streq (json_string_value (json_object_get (key, "Priority")), "Low"),
               "the key did not survive a restart");
    IT_ASSERT (json_is_true (json_object_get (s_find (json_object_get (state, "Frontends"),
                                                      "team"), "RequireApiKey")),
               "RequireApiKey did not survive a restart");
    json_decref (state);
    status = it_stop (configd, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    zsock_destroy (&client);
}

//  Every object of every kind in the snapshot is the one expected says, field
//  by field (fields added after expected was written are not compared)
static void
s_expect_objects (json_t *state, json_t *expected, const char *kind)
{
    json_t *have = json_object_get (state, kind);
    json_t *want = json_object_get (expected, kind);
    IT_ASSERT (json_array_size (have) == json_array_size (want), "%zu %s, not %zu",
               json_array_size (have), kind, json_array_size (want));
    size_t index;
    json_t *object;
    json_array_foreach (want, index, object) {
        const char *id = json_string_value (json_object_get (object, "Identifier"));
        json_t *mine = s_find (have, id);
        IT_ASSERT (mine, "%s: %s is missing", kind, id);
        const char *field;
        json_t *value;
        json_object_foreach (object, field, value) {
            char *text = json_dumps (json_object_get (mine, field), JSON_ENCODE_ANY | JSON_COMPACT);
            IT_ASSERT (json_equal (json_object_get (mine, field), value), "%s %s: %s is %s",
                       kind, id, field, text ? text : "missing");
            free (text);
        }
    }
}

//  A file of today's layout, every field set, opens with every field as it was
static void
s_test_schema3 (it_env_t *env)
{
    s_load_fixture (env, "configd-schema3.sql");
    const char *fixture = getenv ("OF_FIXTURE_DIR");
    char path [512];
    snprintf (path, sizeof path, "%s/configd-schema3.json", fixture);
    json_error_t error;
    json_t *expected = json_load_file (path, 0, &error);
    IT_ASSERT (expected, "%s: %s", path, error.text);

    zsock_t *client = it_config_client (env);
    pid_t configd = it_start (env, "ollamaflow-configd", NULL);
    json_t *state = it_config_wait (client, "SNAPSHOT");
    IT_ASSERT (json_equal (json_object_get (state, "Epoch"), json_object_get (expected, "Epoch"))
                   && json_equal (json_object_get (state, "Sequence"),
                                  json_object_get (expected, "Sequence")),
               "the epoch or the sequence changed");
    s_expect_objects (state, expected, "Frontends");
    s_expect_objects (state, expected, "Backends");
    s_expect_objects (state, expected, "Keys");
    json_decref (state);
    json_decref (expected);
    int status = it_stop (configd, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    char *schema = s_meta (env->database, "schema");
    IT_ASSERT (schema && streq (schema, S_SCHEMA_TODAY), "the file is marked schema %s", schema);
    free (schema);
    zsock_destroy (&client);
}

//  A file a newer configd wrote is not opened: configd says why and exits,
//  and the file keeps its mark and its objects
static void
s_test_newer (it_env_t *env)
{
    s_load_fixture (env, "configd-schema3.sql");
    sqlite3 *db = NULL;
    IT_ASSERT (sqlite3_open (env->database, &db) == SQLITE_OK, "cannot open %s", env->database);
    char *error = NULL;
    IT_ASSERT (sqlite3_exec (db, "UPDATE meta SET value = '99' WHERE key = 'schema'", NULL, NULL,
                             &error) == SQLITE_OK, "%s", error);
    sqlite3_close (db);
    char log [400];
    snprintf (log, sizeof log, "%s/ollamaflow-configd.log", env->dir);
    unlink (log);
    pid_t configd = it_start (env, "ollamaflow-configd", NULL);
    IT_ASSERT (it_file_contains (log, "database schema 99; this configd knows up to "
                                      S_SCHEMA_TODAY, IT_TIMEOUT_MS),
               "configd did not name the newer schema");
    int status = it_stop (configd, 0);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) != 0, "configd ran on: status %d",
               status);
    char *schema = s_meta (env->database, "schema");
    IT_ASSERT (schema && streq (schema, "99"), "the file was marked schema %s", schema);
    free (schema);
    char *sequence = s_meta (env->database, "sequence");
    IT_ASSERT (sequence && streq (sequence, "6"), "the sequence became %s", sequence);
    free (sequence);
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "migrate", NULL);
    s_test_schema1 (&env);
    s_test_schema3 (&env);
    s_test_newer (&env);
    it_env_cleanup (&env);
    printf ("schema 1 and 3 databases opened with nothing lost; a newer one refused untouched\n");
    return 0;
}
