/*  =========================================================================
    sched_keys - the limits of client API keys, over every ingress replica
    =========================================================================
*/

#include "sched_keys.h"

#define S_RETRY_MIN_MS 1000

//  One second of a key's minute
typedef struct {
    int64_t second;             //  which second (now_ms / 1000) it counts
    int64_t requests;
    int64_t tokens;
} s_bucket_t;

typedef struct {
    s_bucket_t buckets [SCHED_KEYS_WINDOW_S];
    int64_t last_second;        //  the last second anything was counted
} s_counts_t;

//  What a key used since the scheduler started
typedef struct {
    int64_t requests;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t errors;
} s_usage_t;

struct _sched_keys_t {
    int64_t priority_step_ms;
    zhashx_t *counts;           //  Identifier -> s_counts_t
    zhashx_t *usage;            //  Identifier -> s_usage_t
};

static void
s_counts_free (void **item)
{
    free (*item);
    *item = NULL;
}

sched_keys_t *
sched_keys_new (int64_t priority_step_ms)
{
    sched_keys_t *self = (sched_keys_t *) zmalloc (sizeof (sched_keys_t));
    self->priority_step_ms = priority_step_ms;
    self->counts = zhashx_new ();
    zhashx_set_destructor (self->counts, s_counts_free);
    self->usage = zhashx_new ();
    zhashx_set_destructor (self->usage, s_counts_free);
    return self;
}

void
sched_keys_destroy (sched_keys_t **self_p)
{
    assert (self_p);
    sched_keys_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->counts);
    zhashx_destroy (&self->usage);
    free (self);
    *self_p = NULL;
}

//  The bucket of second, emptied if it held an older second
static s_bucket_t *
s_bucket (s_counts_t *counts, int64_t second)
{
    s_bucket_t *bucket = &counts->buckets [second % SCHED_KEYS_WINDOW_S];
    if (bucket->second != second) {
        bucket->second = second;
        bucket->requests = 0;
        bucket->tokens = 0;
    }
    counts->last_second = second;
    return bucket;
}

//  The counts of key, made if needed (NULL when too many keys are followed
//  and none has been idle for a minute)
static s_counts_t *
s_counts (sched_keys_t *self, const char *key, int64_t second)
{
    s_counts_t *counts = (s_counts_t *) zhashx_lookup (self->counts, key);
    if (counts)
        return counts;
    if (zhashx_size (self->counts) >= SCHED_KEYS_MAX) {
        //  Keys idle for a minute count nothing: forget them
        zlistx_t *names = zhashx_keys (self->counts);
        for (const char *name = (const char *) zlistx_first (names); name;
             name = (const char *) zlistx_next (names)) {
            s_counts_t *old = (s_counts_t *) zhashx_lookup (self->counts, name);
            if (second - old->last_second >= SCHED_KEYS_WINDOW_S)
                zhashx_delete (self->counts, name);
        }
        zlistx_destroy (&names);
        if (zhashx_size (self->counts) >= SCHED_KEYS_MAX)
            return NULL;
    }
    counts = (s_counts_t *) zmalloc (sizeof (s_counts_t));
    for (int i = 0; i < SCHED_KEYS_WINDOW_S; i++)
        counts->buckets [i].second = -1;
    zhashx_insert (self->counts, key, counts);
    return counts;
}

//  The usage of key, made if needed; NULL once SCHED_KEYS_MAX keys have some
static s_usage_t *
s_usage (sched_keys_t *self, const char *key)
{
    s_usage_t *usage = (s_usage_t *) zhashx_lookup (self->usage, key);
    if (!usage && zhashx_size (self->usage) < SCHED_KEYS_MAX) {
        usage = (s_usage_t *) zmalloc (sizeof (s_usage_t));
        zhashx_insert (self->usage, key, usage);
    }
    return usage;
}

//  What the last minute holds (requests, or tokens), and when enough of it
//  ends to bring it under limit
static int64_t
s_sum (s_counts_t *counts, int64_t second, bool tokens, int64_t limit, int64_t *retry_ms,
       int64_t now_ms)
{
    int64_t total = 0;
    for (int i = 0; i < SCHED_KEYS_WINDOW_S; i++) {
        s_bucket_t *bucket = &counts->buckets [i];
        if (bucket->second > second - SCHED_KEYS_WINDOW_S)
            total += tokens ? bucket->tokens : bucket->requests;
    }
    //  Oldest second first: when does what is left fall under the limit
    int64_t left = total;
    *retry_ms = S_RETRY_MIN_MS;
    for (int64_t s = second - SCHED_KEYS_WINDOW_S + 1; s <= second && left >= limit; s++) {
        s_bucket_t *bucket = &counts->buckets [s % SCHED_KEYS_WINDOW_S];
        if (bucket->second != s)
            continue;
        left -= tokens ? bucket->tokens : bucket->requests;
        int64_t ends_ms = (s + SCHED_KEYS_WINDOW_S) * 1000 - now_ms;
        *retry_ms = ends_ms > S_RETRY_MIN_MS ? ends_ms : S_RETRY_MIN_MS;
    }
    return total;
}

//  The limits' verdict on an ask, as sched_keys_admit says; 1: admitted, not counted
static int
s_admit (sched_keys_t *self, const char *key, json_t *limits, size_t running, bool retry,
         int64_t now_ms, int64_t *retry_after_ms, char *message, size_t size)
{
    if (!limits)
        return 0;
    json_int_t concurrent = json_integer_value (json_object_get (limits, "MaxConcurrentRequests"));
    json_int_t per_minute = json_integer_value (json_object_get (limits, "RequestsPerMinute"));
    json_int_t tokens = json_integer_value (json_object_get (limits, "TokensPerMinute"));
    if (concurrent > 0 && (json_int_t) running >= concurrent) {
        *retry_after_ms = S_RETRY_MIN_MS;
        snprintf (message, size, "API key '%s' has %zu requests running or waiting "
                  "(MaxConcurrentRequests %lld)", key, running, (long long) concurrent);
        return -1;
    }
    if (retry)
        return 1;
    if (per_minute == 0 && tokens == 0)
        return 0;
    int64_t second = now_ms / 1000;
    s_counts_t *counts = s_counts (self, key, second);
    if (!counts)
        return 0;               //  too many keys at once: limits give way before memory
    int64_t used;
    if (per_minute > 0
        && (used = s_sum (counts, second, false, per_minute, retry_after_ms, now_ms))
               >= per_minute) {
        snprintf (message, size, "API key '%s' made %lld requests in the last minute "
                  "(RequestsPerMinute %lld)", key, (long long) used, (long long) per_minute);
        return -1;
    }
    if (tokens > 0 && (used = s_sum (counts, second, true, tokens, retry_after_ms, now_ms))
                          >= tokens) {
        snprintf (message, size, "API key '%s' used %lld tokens in the last minute "
                  "(TokensPerMinute %lld)", key, (long long) used, (long long) tokens);
        return -1;
    }
    s_bucket (counts, second)->requests++;
    return 0;
}

int
sched_keys_admit (sched_keys_t *self, const char *key, json_t *limits, size_t running,
                  bool retry, int64_t now_ms, int64_t *retry_after_ms, char *message,
                  size_t size)
{
    assert (self && retry_after_ms && message);
    if (!key)
        return 0;
    int verdict = s_admit (self, key, limits, running, retry, now_ms, retry_after_ms, message,
                           size);
    s_usage_t *usage = s_usage (self, key);
    if (usage && verdict < 0)
        usage->errors++;
    else if (usage && !retry)
        usage->requests++;
    return verdict < 0 ? -1 : 0;
}

void
sched_keys_charge (sched_keys_t *self, const char *key, int64_t prompt_tokens,
                   int64_t completion_tokens, bool error, int64_t now_ms)
{
    assert (self);
    if (!key)
        return;
    prompt_tokens = prompt_tokens > 0 ? prompt_tokens : 0;
    completion_tokens = completion_tokens > 0 ? completion_tokens : 0;
    s_usage_t *usage = s_usage (self, key);
    if (usage) {
        usage->prompt_tokens += prompt_tokens;
        usage->completion_tokens += completion_tokens;
        usage->errors += error;
    }
    if (prompt_tokens + completion_tokens == 0)
        return;
    int64_t second = now_ms / 1000;
    s_counts_t *counts = s_counts (self, key, second);
    if (counts)
        s_bucket (counts, second)->tokens += prompt_tokens + completion_tokens;
}

void
sched_keys_note_error (sched_keys_t *self, const char *key)
{
    assert (self);
    s_usage_t *usage = key ? s_usage (self, key) : NULL;
    if (usage)
        usage->errors++;
}

void
sched_keys_note_running (sched_keys_t *self, const char *key)
{
    assert (self);
    if (key)
        s_usage (self, key);
}

json_t *
sched_keys_usage (sched_keys_t *self, size_t max)
{
    assert (self);
    json_t *records = json_array ();
    for (s_usage_t *usage = (s_usage_t *) zhashx_first (self->usage);
         usage && json_array_size (records) < max;
         usage = (s_usage_t *) zhashx_next (self->usage))
        json_array_append_new (records, json_pack (
            "{s:s, s:I, s:I, s:I, s:I}", "Key", (const char *) zhashx_cursor (self->usage),
            "Requests", (json_int_t) usage->requests, "PromptTokens",
            (json_int_t) usage->prompt_tokens, "CompletionTokens",
            (json_int_t) usage->completion_tokens, "Errors", (json_int_t) usage->errors));
    return records;
}

int64_t
sched_keys_rank (sched_keys_t *self, json_t *limits, int64_t arrived_at)
{
    assert (self);
    const char *priority = json_string_value (json_object_get (limits, "Priority"));
    int64_t steps = priority && streq (priority, "High") ? 0
                    : priority && streq (priority, "Low") ? 2
                                                          : 1;
    return arrived_at + steps * self->priority_step_ms;
}

//  --------------------------------------------------------------------------
//  Self test

void
sched_keys_test (bool verbose)
{
    (void) verbose;
    printf (" * sched_keys: ");
    sched_keys_t *self = sched_keys_new (500);
    json_t *c2 = json_pack ("{s:s, s:i, s:i, s:i}", "Priority", "High", "MaxConcurrentRequests", 2,
                            "RequestsPerMinute", 0, "TokensPerMinute", 0);
    json_t *r3 = json_pack ("{s:s, s:i, s:i, s:i}", "Priority", "Low", "MaxConcurrentRequests", 0,
                            "RequestsPerMinute", 3, "TokensPerMinute", 0);
    json_t *t100 = json_pack ("{s:s, s:i, s:i, s:i}", "Priority", "Normal",
                              "MaxConcurrentRequests", 0, "RequestsPerMinute", 0,
                              "TokensPerMinute", 100);
    int64_t retry = 0, now = 1000000;
    char message [SCHED_KEYS_MESSAGE_MAX];
    //  No key, no limits: nothing to hold
    assert (sched_keys_admit (self, NULL, c2, 1000, false, now, &retry, message,
                              sizeof message) == 0);
    assert (sched_keys_admit (self, "c2", NULL, 1000, false, now, &retry, message,
                              sizeof message) == 0);
    //  Concurrency: what runs or waits
    assert (sched_keys_admit (self, "c2", c2, 1, false, now, &retry, message, sizeof message)
            == 0);
    assert (sched_keys_admit (self, "c2", c2, 2, false, now, &retry, message, sizeof message)
            == -1);
    assert (strstr (message, "MaxConcurrentRequests 2") && retry == S_RETRY_MIN_MS);
    //  Requests per minute: the 4th in a minute waits for the first to leave it
    for (int i = 0; i < 3; i++)
        assert (sched_keys_admit (self, "r3", r3, 0, false, now + i * 10000, &retry, message,
                                  sizeof message) == 0);
    assert (sched_keys_admit (self, "r3", r3, 0, false, now + 30000, &retry, message,
                              sizeof message) == -1);
    assert (strstr (message, "RequestsPerMinute 3"));
    assert (retry == 30000);
    assert (sched_keys_admit (self, "r3", r3, 0, false, now + 60000, &retry, message,
                              sizeof message) == 0);
    //  Tokens per minute: charged after the fact, over the limit until they age out
    assert (sched_keys_admit (self, "t100", t100, 0, false, now, &retry, message,
                              sizeof message) == 0);
    sched_keys_charge (self, "t100", 100, 50, false, now + 500);
    assert (sched_keys_admit (self, "t100", t100, 0, false, now + 20000, &retry, message,
                              sizeof message) == -1);
    assert (strstr (message, "used 150 tokens") && retry == 40000);
    assert (sched_keys_admit (self, "t100", t100, 0, false, now + 61000, &retry, message,
                              sizeof message) == 0);
    sched_keys_charge (self, NULL, 10, 10, true, now);
    //  A retry counts against concurrency only
    assert (sched_keys_admit (self, "r3", r3, 0, true, now + 60001, &retry, message,
                              sizeof message) == 0);
    //  Usage: requests admitted, errors (refusals, failed requests), tokens in and out
    sched_keys_charge (self, "c2", 3, 4, true, now);
    sched_keys_note_error (self, "c2");
    sched_keys_note_running (self, NULL);
    json_t *usage = sched_keys_usage (self, 100);
    assert (json_array_size (usage) == 3);
    json_decref (usage);
    sched_keys_note_running (self, "resumed");
    usage = sched_keys_usage (self, 100);
    assert (json_array_size (usage) == 4);
    json_decref (usage);
    usage = sched_keys_usage (self, 3);
    assert (json_array_size (usage) == 3);
    size_t index;
    json_t *record;
    json_array_foreach (usage, index, record) {
        const char *name = json_string_value (json_object_get (record, "Key"));
        json_int_t requests = json_integer_value (json_object_get (record, "Requests"));
        json_int_t errors = json_integer_value (json_object_get (record, "Errors"));
        if (streq (name, "c2"))
            assert (requests == 2 && errors == 3
                    && json_integer_value (json_object_get (record, "PromptTokens")) == 3
                    && json_integer_value (json_object_get (record, "CompletionTokens")) == 4);
        else if (streq (name, "resumed"))
            assert (requests == 0 && errors == 0);
        else if (streq (name, "r3"))
            assert (requests == 4 && errors == 1);
        else
            assert (streq (name, "t100") && requests == 2 && errors == 1
                    && json_integer_value (json_object_get (record, "CompletionTokens")) == 50);
    }
    json_decref (usage);
    //  Ranks: High, then Normal (and no key), then Low, each a step behind
    assert (sched_keys_rank (self, c2, 100) == 100);
    assert (sched_keys_rank (self, t100, 100) == 600);
    assert (sched_keys_rank (self, NULL, 100) == 600);
    assert (sched_keys_rank (self, r3, 100) == 1100);
    assert (sched_keys_rank (self, r3, 100) < sched_keys_rank (self, c2, 1101));
    json_decref (c2);
    json_decref (r3);
    json_decref (t100);
    sched_keys_destroy (&self);
    sched_keys_destroy (&self);
    printf ("OK\n");
}
