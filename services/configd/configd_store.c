/*  =========================================================================
    configd_store - ollamaflow.db: frontends, backends and keys in SQLite
    =========================================================================
*/

#include "configd_store.h"
#include <sqlite3.h>

#define S_SQL_MAX        4096
#define S_BUSY_TIMEOUT_MS 5000
//  The layout of the file: 1 frontends and backends; 2 adds the keys table and
//  the frontends' RequireApiKey; 3 the backends' ImageModels and the
//  frontends' PredictedLatency. An older file is brought up to date on open; a
//  newer one is refused, since writing it would drop what this configd does
//  not know: bump it with every field or enum value added.
#define S_SCHEMA_VERSION 3

typedef struct {
    sqlite3_stmt *select_one;
    sqlite3_stmt *select_all;
    sqlite3_stmt *insert;           //  INSERT OR REPLACE of every column
    sqlite3_stmt *delete;
} s_kind_statements_t;

struct _configd_store_t {
    sqlite3 *db;
    bool is_new;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    s_kind_statements_t kinds [OF_KIND_COUNT];
    sqlite3_stmt *set_sequence;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *missing_backends;     //  ids of a JSON list that are not backends
    sqlite3_stmt *backend_users;        //  frontends whose Backends list an id
    sqlite3_stmt *missing_frontends;    //  ids of a JSON list that are not frontends
    sqlite3_stmt *frontend_users;       //  keys whose Frontends list an id
};

//  Column names are the field names in lower case, as OllamaFlow's tables
static void
s_column_name (const of_field_t *field, char *dest, size_t size)
{
    size_t i = 0;
    for (; field->name [i] && i < size - 1; i++)
        dest [i] = (char) tolower ((unsigned char) field->name [i]);
    dest [i] = 0;
}

static const char *
s_column_type (const of_field_t *field)
{
    return field->type == OF_FIELD_INT || field->type == OF_FIELD_BOOL ? "INTEGER" : "TEXT";
}

static int
s_exec (configd_store_t *self, const char *sql, char *error, size_t size)
{
    char *message = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        snprintf (error, size, "%s", message ? message : sqlite3_errmsg (self->db));
        sqlite3_free (message);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *
s_prepare (configd_store_t *self, const char *sql, char *error, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL)
        != SQLITE_OK) {
        snprintf (error, size, "cannot prepare statement: %s", sqlite3_errmsg (self->db));
        return NULL;
    }
    return stmt;
}

//  Creates the table of a kind if needed and adds columns newer fields need
static int
s_create_table (configd_store_t *self, of_kind_t kind, char *error, size_t size)
{
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    char sql [S_SQL_MAX];
    size_t used = (size_t) snprintf (sql, sizeof sql,
                                     "CREATE TABLE IF NOT EXISTS %s (", of_kind_plural (kind));
    for (size_t f = 0; f < count; f++) {
        char column [64];
        s_column_name (&fields [f], column, sizeof column);
        used += (size_t) snprintf (sql + used, sizeof sql - used, "%s%s %s%s", f ? ", " : "",
                                   column, s_column_type (&fields [f]),
                                   f == 0 ? " PRIMARY KEY NOT NULL" : "");
    }
    snprintf (sql + used, sizeof sql - used, ")");
    assert (used < sizeof sql - 1);
    if (s_exec (self, sql, error, size) != 0)
        return -1;

    //  Columns of fields added since the file was made
    for (size_t f = 1; f < count; f++) {
        char column [64];
        s_column_name (&fields [f], column, sizeof column);
        snprintf (sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s'",
                  of_kind_plural (kind), column);
        sqlite3_stmt *stmt = s_prepare (self, sql, error, size);
        if (!stmt)
            return -1;
        bool present = sqlite3_step (stmt) == SQLITE_ROW;
        sqlite3_finalize (stmt);
        if (!present) {
            snprintf (sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", of_kind_plural (kind),
                      column, s_column_type (&fields [f]));
            if (s_exec (self, sql, error, size) != 0)
                return -1;
        }
    }
    return 0;
}

static int
s_prepare_kind (configd_store_t *self, of_kind_t kind, char *error, size_t size)
{
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    char columns [S_SQL_MAX] = "";
    char marks [S_SQL_MAX] = "";
    size_t used = 0, marks_used = 0;
    for (size_t f = 0; f < count; f++) {
        char column [64];
        s_column_name (&fields [f], column, sizeof column);
        used += (size_t) snprintf (columns + used, sizeof columns - used, "%s%s", f ? ", " : "",
                                   column);
        marks_used += (size_t) snprintf (marks + marks_used, sizeof marks - marks_used, "%s?",
                                         f ? ", " : "");
    }
    const char *table = of_kind_plural (kind);
    s_kind_statements_t *k = &self->kinds [kind];
    char *sql = zsys_sprintf ("SELECT %s FROM %s WHERE identifier = ?", columns, table);
    k->select_one = s_prepare (self, sql, error, size);
    zstr_free (&sql);
    sql = zsys_sprintf ("SELECT %s FROM %s ORDER BY identifier", columns, table);
    k->select_all = s_prepare (self, sql, error, size);
    zstr_free (&sql);
    sql = zsys_sprintf ("INSERT OR REPLACE INTO %s (%s) VALUES (%s)", table, columns, marks);
    k->insert = s_prepare (self, sql, error, size);
    zstr_free (&sql);
    sql = zsys_sprintf ("DELETE FROM %s WHERE identifier = ?", table);
    k->delete = s_prepare (self, sql, error, size);
    zstr_free (&sql);
    return k->select_one && k->select_all && k->insert && k->delete ? 0 : -1;
}

//  Reads or creates the epoch and sequence in the meta table
static int
s_load_meta (configd_store_t *self, char *error, size_t size)
{
    if (s_exec (self, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)", error,
                size) != 0)
        return -1;
    sqlite3_stmt *stmt = s_prepare (self, "SELECT value FROM meta WHERE key = ?", error, size);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, "epoch", -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *epoch = (const char *) sqlite3_column_text (stmt, 0);
        snprintf (self->epoch, sizeof self->epoch, "%s", epoch ? epoch : "");
    }
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, "sequence", -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW)
        self->sequence = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);

    if (strlen (self->epoch) != OFP_EPOCH_LENGTH) {
        //  A new database: a new epoch, so clients of an old one start over
        of_service_epoch (self->epoch);
        self->sequence = 0;
        self->is_new = true;
        stmt = s_prepare (self, "INSERT OR REPLACE INTO meta (key, value) VALUES "
                                "('epoch', ?), ('sequence', 0)", error, size);
        if (!stmt)
            return -1;
        sqlite3_bind_text (stmt, 1, self->epoch, -1, SQLITE_STATIC);
        int rc = sqlite3_step (stmt);
        sqlite3_finalize (stmt);
        if (rc != SQLITE_DONE) {
            snprintf (error, size, "cannot write the epoch: %s", sqlite3_errmsg (self->db));
            return -1;
        }
    }
    return 0;
}

//  Refuses a file made by a newer configd (its "schema" above ours)
static int
s_check_schema (configd_store_t *self, char *error, size_t size)
{
    sqlite3_stmt *stmt = s_prepare (self, "SELECT value FROM meta WHERE key = 'schema'", error,
                                    size);
    if (!stmt)
        return -1;
    int64_t schema = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
    sqlite3_finalize (stmt);
    if (schema > S_SCHEMA_VERSION) {
        snprintf (error, size,
                  "written by a newer ollamaflow (database schema %lld; this configd knows up "
                  "to %d): not opened, so that nothing it holds is lost",
                  (long long) schema, S_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

//  Records the layout once the tables are brought up to date (in the open's
//  transaction, so a file is never marked newer than it is)
static int
s_set_schema (configd_store_t *self, char *error, size_t size)
{
    char sql [128];
    snprintf (sql, sizeof sql, "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', %d)",
              S_SCHEMA_VERSION);
    return s_exec (self, sql, error, size);
}

configd_store_t *
configd_store_new (const char *path, char *error, size_t size)
{
    assert (path);
    configd_store_t *self = (configd_store_t *) zmalloc (sizeof (configd_store_t));
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
        != SQLITE_OK) {
        snprintf (error, size, "%s: %s", path,
                  self->db ? sqlite3_errmsg (self->db) : "cannot open");
        goto failed;
    }
    sqlite3_busy_timeout (self->db, S_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes (self->db, 1);
    char reason [CONFIGD_MESSAGE_MAX] = "";
    if (s_exec (self, "PRAGMA journal_mode=WAL", reason, sizeof reason) != 0
        || s_exec (self, "PRAGMA synchronous=FULL", reason, sizeof reason) != 0
        || s_exec (self, "BEGIN IMMEDIATE", reason, sizeof reason) != 0) {
        snprintf (error, size, "%s: %s", path, reason);
        goto failed;
    }
    if (s_load_meta (self, reason, sizeof reason) != 0
        || s_check_schema (self, reason, sizeof reason) != 0
        || s_create_table (self, OF_KIND_BACKEND, reason, sizeof reason) != 0
        || s_create_table (self, OF_KIND_FRONTEND, reason, sizeof reason) != 0
        || s_create_table (self, OF_KIND_KEY, reason, sizeof reason) != 0
        || s_set_schema (self, reason, sizeof reason) != 0
        || s_exec (self, "COMMIT", reason, sizeof reason) != 0) {
        snprintf (error, size, "%s: %s", path, reason);
        goto failed;
    }
    for (int kind = 0; kind < OF_KIND_COUNT; kind++)
        if (s_prepare_kind (self, (of_kind_t) kind, reason, sizeof reason) != 0) {
            snprintf (error, size, "%s: %s", path, reason);
            goto failed;
        }
    self->set_sequence = s_prepare (self, "UPDATE meta SET value = ? WHERE key = 'sequence'",
                                    reason, sizeof reason);
    self->begin = s_prepare (self, "BEGIN IMMEDIATE", reason, sizeof reason);
    self->commit = s_prepare (self, "COMMIT", reason, sizeof reason);
    self->rollback = s_prepare (self, "ROLLBACK", reason, sizeof reason);
    self->missing_backends = s_prepare (
        self, "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT identifier FROM backends)",
        reason, sizeof reason);
    self->backend_users = s_prepare (
        self, "SELECT identifier FROM frontends WHERE EXISTS "
              "(SELECT 1 FROM json_each(frontends.backends) WHERE value = ?) ORDER BY identifier",
        reason, sizeof reason);
    self->missing_frontends = s_prepare (
        self, "SELECT value FROM json_each(?) WHERE value != '*' "
              "AND value NOT IN (SELECT identifier FROM frontends)",
        reason, sizeof reason);
    self->frontend_users = s_prepare (
        self, "SELECT identifier FROM keys WHERE EXISTS "
              "(SELECT 1 FROM json_each(keys.frontends) WHERE value = ?) ORDER BY identifier",
        reason, sizeof reason);
    if (!self->set_sequence || !self->begin || !self->commit || !self->rollback
        || !self->missing_backends || !self->backend_users || !self->missing_frontends
        || !self->frontend_users) {
        snprintf (error, size, "%s: %s", path, reason);
        goto failed;
    }
    return self;

failed:
    configd_store_destroy (&self);
    return NULL;
}

void
configd_store_destroy (configd_store_t **self_p)
{
    assert (self_p);
    configd_store_t *self = *self_p;
    if (!self)
        return;
    for (int kind = 0; kind < OF_KIND_COUNT; kind++) {
        sqlite3_finalize (self->kinds [kind].select_one);
        sqlite3_finalize (self->kinds [kind].select_all);
        sqlite3_finalize (self->kinds [kind].insert);
        sqlite3_finalize (self->kinds [kind].delete);
    }
    sqlite3_finalize (self->set_sequence);
    sqlite3_finalize (self->begin);
    sqlite3_finalize (self->commit);
    sqlite3_finalize (self->rollback);
    sqlite3_finalize (self->missing_backends);
    sqlite3_finalize (self->backend_users);
    sqlite3_finalize (self->missing_frontends);
    sqlite3_finalize (self->frontend_users);
    sqlite3_close_v2 (self->db);
    free (self);
    *self_p = NULL;
}

bool
configd_store_is_new (configd_store_t *self)
{
    assert (self);
    return self->is_new;
}

const char *
configd_store_epoch (configd_store_t *self)
{
    assert (self);
    return self->epoch;
}

int64_t
configd_store_sequence (configd_store_t *self)
{
    assert (self);
    return self->sequence;
}

//  Builds an object from the current row of a SELECT of every column
static json_t *
s_row_to_object (sqlite3_stmt *stmt, of_kind_t kind)
{
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    json_t *object = json_object ();
    for (size_t f = 0; f < count; f++) {
        const of_field_t *field = &fields [f];
        json_t *value = NULL;
        if (sqlite3_column_type (stmt, (int) f) != SQLITE_NULL) {
            const char *text = (const char *) sqlite3_column_text (stmt, (int) f);
            switch (field->type) {
                case OF_FIELD_INT:
                    value = json_integer (sqlite3_column_int64 (stmt, (int) f));
                    break;
                case OF_FIELD_BOOL:
                    value = json_boolean (sqlite3_column_int64 (stmt, (int) f) != 0);
                    break;
                case OF_FIELD_STRINGS:
                case OF_FIELD_OBJECT:
                case OF_FIELD_HEADERS:
                    value = json_loads (text, 0, NULL);
                    break;
                default:
                    value = json_string (text);
                    break;
            }
        }
        //  NULL columns (added by a migration) take the field's default
        if (!value)
            value = json_loads (field->def, JSON_DECODE_ANY, NULL);
        json_object_set_new (object, field->name, value);
    }
    return object;
}

static void
s_bind_object (sqlite3_stmt *stmt, of_kind_t kind, json_t *object)
{
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    for (size_t f = 0; f < count; f++) {
        json_t *value = json_object_get (object, fields [f].name);
        int column = (int) f + 1;
        if (!value || json_is_null (value))
            sqlite3_bind_null (stmt, column);
        else if (json_is_integer (value))
            sqlite3_bind_int64 (stmt, column, json_integer_value (value));
        else if (json_is_boolean (value))
            sqlite3_bind_int (stmt, column, json_is_true (value));
        else if (json_is_string (value))
            sqlite3_bind_text (stmt, column, json_string_value (value), -1, SQLITE_TRANSIENT);
        else {
            char *text = json_dumps (value, JSON_COMPACT);
            sqlite3_bind_text (stmt, column, text, -1, free);
        }
    }
}

json_t *
configd_store_get (configd_store_t *self, of_kind_t kind, const char *identifier)
{
    assert (self && identifier);
    sqlite3_stmt *stmt = self->kinds [kind].select_one;
    sqlite3_bind_text (stmt, 1, identifier, -1, SQLITE_STATIC);
    json_t *object = sqlite3_step (stmt) == SQLITE_ROW ? s_row_to_object (stmt, kind) : NULL;
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return object;
}

json_t *
configd_store_list (configd_store_t *self, of_kind_t kind)
{
    assert (self);
    sqlite3_stmt *stmt = self->kinds [kind].select_all;
    json_t *list = json_array ();
    while (sqlite3_step (stmt) == SQLITE_ROW)
        json_array_append_new (list, s_row_to_object (stmt, kind));
    sqlite3_reset (stmt);
    return list;
}

static configd_result_t
s_result (int status, const char *error, const char *format, ...)
{
    configd_result_t result = {status, error, ""};
    va_list args;
    va_start (args, format);
    vsnprintf (result.message, sizeof result.message, format, args);
    va_end (args);
    return result;
}

//  Runs one statement to completion; 0 or -1
static int
s_step (sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

//  Lists the rows of a one-column query as "a, b, c"; returns how many
static size_t
s_collect (sqlite3_stmt *stmt, char *dest, size_t size)
{
    size_t found = 0, used = 0;
    *dest = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *id = (const char *) sqlite3_column_text (stmt, 0);
        if (used < size)
            used += (size_t) snprintf (dest + used, size - used, "%s%s", found ? ", " : "",
                                       id ? id : "");
        found++;
    }
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return found;
}

//  Advances the sequence and commits; on failure rolls back
static configd_result_t
s_commit (configd_store_t *self, int64_t *sequence)
{
    sqlite3_bind_int64 (self->set_sequence, 1, self->sequence + 1);
    if (s_step (self->set_sequence) != 0 || s_step (self->commit) != 0) {
        configd_result_t result = s_result (500, "InternalError", "database write failed: %s",
                                            sqlite3_errmsg (self->db));
        s_step (self->rollback);
        return result;
    }
    self->sequence++;
    *sequence = self->sequence;
    return s_result (0, NULL, "");
}

static configd_result_t
s_abort (configd_store_t *self, configd_result_t result)
{
    s_step (self->rollback);
    return result;
}

configd_result_t
configd_store_put (configd_store_t *self, of_kind_t kind, const char *identifier, json_t *input,
                   bool create, json_t **stored, int64_t *sequence)
{
    assert (self && input && stored && sequence);
    *stored = NULL;
    char reason [OF_SCHEMA_ERROR_MAX];
    json_t *copy = json_deep_copy (input);
    if (identifier) {
        //  The identifier in the route wins, in whatever case the client spelled the field
        const char *key;
        json_t *value;
        void *tmp;
        json_object_foreach_safe (copy, tmp, key, value)
            if (strcasecmp (key, "Identifier") == 0)
                json_object_del (copy, key);
        json_object_set_new (copy, "Identifier", json_string (identifier));
    }
    json_t *object = of_schema_normalize (kind, copy, reason, sizeof reason);
    json_decref (copy);
    if (!object)
        return s_result (400, "BadRequest", "%s", reason);
    const char *id = json_string_value (json_object_get (object, "Identifier"));

    if (s_step (self->begin) != 0) {
        json_decref (object);
        return s_result (500, "InternalError", "database busy: %s", sqlite3_errmsg (self->db));
    }
    configd_result_t result;
    json_t *existing = configd_store_get (self, kind, id);
    if (create && existing) {
        result = s_result (409, "Conflict", "a %s with Identifier '%s' already exists",
                           of_kind_name (kind), id);
        goto rollback;
    }
    if (!create && !existing) {
        result = s_result (404, "NotFound", "no %s with Identifier '%s'", of_kind_name (kind), id);
        goto rollback;
    }
    if (kind == OF_KIND_FRONTEND || kind == OF_KIND_KEY) {
        //  A frontend's Backends, a key's Frontends, must exist
        bool frontend = kind == OF_KIND_FRONTEND;
        sqlite3_stmt *query = frontend ? self->missing_backends : self->missing_frontends;
        char *named = json_dumps (json_object_get (object, frontend ? "Backends" : "Frontends"),
                                  JSON_COMPACT);
        sqlite3_bind_text (query, 1, named, -1, free);
        char missing [CONFIGD_MESSAGE_MAX / 2];
        if (s_collect (query, missing, sizeof missing) > 0) {
            result = s_result (409, "Conflict", "%s: no %s with Identifier %s",
                               frontend ? "Backends" : "Frontends",
                               frontend ? "backend" : "frontend", missing);
            goto rollback;
        }
    }
    char now [32];
    of_schema_timestamp (now, sizeof now);
    json_t *created = existing ? json_object_get (existing, "CreatedUtc") : NULL;
    json_object_set_new (object, "CreatedUtc",
                         created && json_is_string (created) ? json_copy (created)
                                                             : json_string (now));
    json_object_set_new (object, "LastUpdateUtc", json_string (now));

    sqlite3_stmt *insert = self->kinds [kind].insert;
    s_bind_object (insert, kind, object);
    if (s_step (insert) != 0) {
        result = s_result (500, "InternalError", "database write failed: %s",
                           sqlite3_errmsg (self->db));
        goto rollback;
    }
    json_decref (existing);
    result = s_commit (self, sequence);
    if (result.status == 0)
        *stored = object;
    else
        json_decref (object);
    return result;

rollback:
    s_step (self->rollback);
    json_decref (existing);
    json_decref (object);
    return result;
}

configd_result_t
configd_store_delete (configd_store_t *self, of_kind_t kind, const char *identifier,
                      int64_t *sequence)
{
    assert (self && identifier && sequence);
    if (s_step (self->begin) != 0)
        return s_result (500, "InternalError", "database busy: %s", sqlite3_errmsg (self->db));
    json_t *existing = configd_store_get (self, kind, identifier);
    if (!existing)
        return s_abort (self, s_result (404, "NotFound", "no %s with Identifier '%s'",
                                        of_kind_name (kind), identifier));
    json_decref (existing);
    if (kind == OF_KIND_BACKEND || kind == OF_KIND_FRONTEND) {
        //  A backend that frontends use, a frontend that keys name, stays
        bool backend = kind == OF_KIND_BACKEND;
        sqlite3_stmt *query = backend ? self->backend_users : self->frontend_users;
        sqlite3_bind_text (query, 1, identifier, -1, SQLITE_TRANSIENT);
        char users [CONFIGD_MESSAGE_MAX / 2];
        if (s_collect (query, users, sizeof users) > 0)
            return s_abort (self, s_result (409, "Conflict",
                                            "%s '%s' is used by %s: %s; remove it from their %s "
                                            "first", of_kind_name (kind), identifier,
                                            backend ? "frontends" : "keys", users,
                                            backend ? "Backends" : "Frontends"));
    }
    sqlite3_stmt *delete = self->kinds [kind].delete;
    sqlite3_bind_text (delete, 1, identifier, -1, SQLITE_TRANSIENT);
    if (s_step (delete) != 0)
        return s_abort (self, s_result (500, "InternalError", "database write failed: %s",
                                        sqlite3_errmsg (self->db)));
    return s_commit (self, sequence);
}

//  --------------------------------------------------------------------------
//  Self test

static json_t *
s_parse (const char *text)
{
    json_t *value = json_loads (text, 0, NULL);
    assert (value);
    return value;
}

static configd_result_t
s_create_key (configd_store_t *store, const char *text, int64_t *sequence)
{
    json_t *input = s_parse (text);
    json_t *stored = NULL;
    configd_result_t result = configd_store_put (store, OF_KIND_KEY, NULL, input, true, &stored,
                                                 sequence);
    json_decref (stored);
    json_decref (input);
    return result;
}

void
configd_store_test (bool verbose)
{
    printf (" * configd_store: ");
    char path [] = "/tmp/configd_store_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    close (fd);
    unlink (path);
    char error [256];
    configd_store_t *store = configd_store_new (path, error, sizeof error);
    assert (store);
    assert (configd_store_is_new (store));
    assert (configd_store_sequence (store) == 0);
    char epoch [OFP_EPOCH_LENGTH + 1];
    snprintf (epoch, sizeof epoch, "%s", configd_store_epoch (store));
    assert (strlen (epoch) == OFP_EPOCH_LENGTH);

    int64_t sequence = 0;
    json_t *stored = NULL;
    json_t *input = s_parse ("{\"Identifier\": \"b1\", \"Port\": 8000, \"Labels\": [\"gpu\"]}");
    configd_result_t result = configd_store_put (store, OF_KIND_BACKEND, NULL, input, true,
                                                 &stored, &sequence);
    assert (result.status == 0 && sequence == 1);
    assert (json_integer_value (json_object_get (stored, "Port")) == 8000);
    assert (json_is_string (json_object_get (stored, "CreatedUtc")));
    json_decref (stored);

    //  Create twice: 409; invalid: 400 naming the field
    result = configd_store_put (store, OF_KIND_BACKEND, NULL, input, true, &stored, &sequence);
    assert (result.status == 409 && sequence == 1);
    json_decref (input);
    input = s_parse ("{\"Identifier\": \"b2\", \"Port\": 0}");
    result = configd_store_put (store, OF_KIND_BACKEND, NULL, input, true, &stored, &sequence);
    assert (result.status == 400 && strstr (result.message, "Port"));
    json_decref (input);

    //  A frontend naming a backend that does not exist: 409
    input = s_parse ("{\"Identifier\": \"f1\", \"Backends\": [\"b1\", \"ghost\"]}");
    result = configd_store_put (store, OF_KIND_FRONTEND, NULL, input, true, &stored, &sequence);
    if (verbose)
        printf ("\n  %d %s\n", result.status, result.message);
    assert (result.status == 409 && strstr (result.message, "ghost"));
    json_decref (input);
    input = s_parse ("{\"Identifier\": \"f1\", \"Backends\": [\"b1\"]}");
    result = configd_store_put (store, OF_KIND_FRONTEND, NULL, input, true, &stored, &sequence);
    assert (result.status == 0 && sequence == 2);
    json_decref (stored);
    json_decref (input);

    //  A key names frontends that exist, and a frontend a key names stays
    result = s_create_key (store, "{\"Identifier\": \"k1\", \"Frontends\": [\"f1\", \"ghost\"]}",
                           &sequence);
    assert (result.status == 409 && strstr (result.message, "Frontends: no frontend")
            && strstr (result.message, "ghost") && !strstr (result.message, "f1"));
    result = s_create_key (store, "{\"Identifier\": \"k1\", \"Frontends\": [\"f1\"]}",
                           &sequence);
    assert (result.status == 0 && sequence == 3);
    result = configd_store_delete (store, OF_KIND_FRONTEND, "f1", &sequence);
    assert (result.status == 409 && strstr (result.message, "k1"));
    result = configd_store_delete (store, OF_KIND_KEY, "k1", &sequence);
    assert (result.status == 0 && sequence == 4);

    //  A backend in use cannot be deleted
    result = configd_store_delete (store, OF_KIND_BACKEND, "b1", &sequence);
    assert (result.status == 409 && strstr (result.message, "f1"));
    result = configd_store_delete (store, OF_KIND_BACKEND, "nope", &sequence);
    assert (result.status == 404);

    //  Replace keeps CreatedUtc, takes the id from the route, resets omitted fields
    json_t *before = configd_store_get (store, OF_KIND_BACKEND, "b1");
    input = s_parse ("{\"identifier\": \"other\", \"Hostname\": \"10.0.0.1\"}");
    result = configd_store_put (store, OF_KIND_BACKEND, "b1", input, false, &stored, &sequence);
    assert (result.status == 0 && sequence == 5);
    assert (streq (json_string_value (json_object_get (stored, "Identifier")), "b1"));
    assert (json_integer_value (json_object_get (stored, "Port")) == 11434);
    assert (json_equal (json_object_get (stored, "CreatedUtc"),
                        json_object_get (before, "CreatedUtc")));
    json_decref (stored);
    json_decref (before);
    result = configd_store_put (store, OF_KIND_BACKEND, "b9", input, false, &stored, &sequence);
    assert (result.status == 404);
    json_decref (input);
    configd_store_destroy (&store);

    //  Reopened: same epoch, same sequence, same data, not new
    store = configd_store_new (path, error, sizeof error);
    assert (store && !configd_store_is_new (store));
    assert (streq (configd_store_epoch (store), epoch));
    assert (configd_store_sequence (store) == 5);
    json_t *list = configd_store_list (store, OF_KIND_BACKEND);
    assert (json_array_size (list) == 1);
    assert (streq (json_string_value (json_object_get (json_array_get (list, 0), "Hostname")),
                   "10.0.0.1"));
    assert (json_equal (json_object_get (json_array_get (list, 0), "Labels"),
                        json_object_get (json_array_get (list, 0), "Labels")));
    json_decref (list);
    result = configd_store_delete (store, OF_KIND_FRONTEND, "f1", &sequence);
    assert (result.status == 0 && sequence == 6);
    result = configd_store_delete (store, OF_KIND_BACKEND, "b1", &sequence);
    assert (result.status == 0 && sequence == 7);
    configd_store_destroy (&store);
    configd_store_destroy (&store);

    //  Not a database: refused with a reason
    FILE *file = fopen (path, "w");
    fprintf (file, "this is not sqlite, not at all, and it is long enough to be checked\n");
    fclose (file);
    char wal [sizeof path + 8];
    snprintf (wal, sizeof wal, "%s-wal", path);
    unlink (wal);
    store = configd_store_new (path, error, sizeof error);
    assert (!store && strstr (error, path));
    unlink (path);
    snprintf (wal, sizeof wal, "%s-shm", path);
    unlink (wal);
    printf ("OK\n");
}
