/*  test_configd_migrate - a database from before client API keys (schema 1,
    fixtures/configd-schema1.sql, written by configd as it was then) opens in
    today's configd with nothing lost: same epoch and sequence, every field of
    every object, the frontends' new RequireApiKey false; keys can be written
    to it, survive a restart, and the file is marked schema 2. */

#include "it_harness.h"
#include <sqlite3.h>

#define S_EPOCH "c297664991494c5e"

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

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "migrate", NULL);
    //  The old file, as that configd left it
    const char *fixture = getenv ("OF_FIXTURE_DIR");
    IT_ASSERT (fixture, "OF_FIXTURE_DIR is not set");
    char path [512];
    snprintf (path, sizeof path, "%s/configd-schema1.sql", fixture);
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
    sqlite3 *db = NULL;
    IT_ASSERT (sqlite3_open (env.database, &db) == SQLITE_OK, "cannot create %s", env.database);
    char *error = NULL;
    IT_ASSERT (sqlite3_exec (db, sql, NULL, NULL, &error) == SQLITE_OK, "fixture: %s", error);
    sqlite3_close (db);
    zstr_free (&sql);
    char *schema = s_meta (env.database, "schema");
    IT_ASSERT (schema && streq (schema, "1"), "the fixture is schema %s", schema);
    free (schema);

    zsock_t *client = it_config_client (&env);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
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
    schema = s_meta (env.database, "schema");
    IT_ASSERT (schema && streq (schema, "2"), "the file is marked schema %s", schema);
    free (schema);

    configd = it_start (&env, "ollamaflow-configd", NULL);
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
    it_env_cleanup (&env);
    printf ("a schema 1 database migrated to schema 2 with nothing lost\n");
    return 0;
}
