/* hostd/vmctl.c, the client side of vdi-vm's control socket, against a
 * peer on a real unix socket that speaks the contract's line-delimited
 * JSON (DESIGN.md §4): replies routed by id, events passed up, late and
 * foreign lines ignored, hostile lines bounded, timeouts and hang-ups. */
#include "config.h"

#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "hostd/vmctl.h"
#define CHECK_NOFORK
#include "check-main.h"

static char *dir, *path;
static int lfd = -1, peer = -1;
static struct vmctl *ctl;

static void setup(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        dir = g_dir_make_tmp("vdi-vmctl-XXXXXX", NULL);
        path = g_build_filename(dir, "control.sock", NULL);
        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(lfd, 4), 0);
        ck_assert_int_eq(vmctl_connect(path, &ctl), 0);
        peer = accept(lfd, NULL, NULL);
        ck_assert_int_ge(peer, 0);
}

static void teardown(void)
{
        vmctl_shutdown(ctl);
        vmctl_unref(ctl);
        close(peer);
        close(lfd);
        unlink(path);
        rmdir(dir);
        g_free(path);
        g_free(dir);
}

static void peer_send(const char *s)
{
        ck_assert_int_eq(write(peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read one request line at the peer. */
static json_t *peer_recv(void)
{
        char buf[4096];
        size_t n = 0;
        while (n < sizeof(buf) - 1) {
                ssize_t r = read(peer, buf + n, 1);
                ck_assert_int_eq(r, 1);
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        json_t *v = json_loads(buf, 0, NULL);
        ck_assert_ptr_nonnull(v);
        return v;
}

/* The monitor's part: read whatever arrives until stop. */
struct reader {
        GPtrArray *events;
        volatile bool stop;
        int last;
};

static void *reader_main(void *arg)
{
        struct reader *r = arg;
        while (!r->stop) {
                struct pollfd pf = { .fd = vmctl_fd(ctl), .events = POLLIN };
                if (poll(&pf, 1, 50) <= 0)
                        continue;
                r->last = vmctl_read(ctl, r->events);
                if (r->last < 0)
                        break;
        }
        return NULL;
}

struct requester {
        json_t *cmd, *reply;
        char *error;
        int r;
        unsigned timeout_ms;
};

static void *request_main(void *arg)
{
        struct requester *q = arg;
        q->r = vmctl_request(ctl, q->cmd, q->timeout_ms, &q->reply, &q->error);
        return NULL;
}

/* The same with a descriptor passed (q->r holds it on the way in). */
static void *request_fd_main(void *arg)
{
        struct requester *q = arg;
        q->r = vmctl_request_fd(ctl, q->cmd, q->r, q->timeout_ms, &q->reply, &q->error);
        return NULL;
}

START_TEST(test_reply_routing_and_events)
{
        struct reader rd = { .events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref) };
        struct requester q = { .cmd = json_pack("{s:s}", "cmd", "status"), .timeout_ms = 5000 };
        pthread_t rt, qt;

        pthread_create(&rt, NULL, reader_main, &rd);
        pthread_create(&qt, NULL, request_main, &q);
        json_t *req = peer_recv();
        ck_assert_str_eq(json_string_value(json_object_get(req, "cmd")), "status");
        json_int_t id = json_integer_value(json_object_get(req, "id"));
        ck_assert_int_gt(id, 0);
        /* An event, a stale reply, garbage, then the answer split in two writes. */
        peer_send("{\"event\":\"booted\"}\n{\"id\":999,\"ok\":true}\nnot json\n[1]\n");
        g_autofree char *ans = g_strdup_printf("{\"id\":%lld,\"ok\":true,\"state\":\"running\","
                                               "\"cpus\":2,\"memory_mb\":256,\"pid\":42}\n",
                                               (long long)id);
        size_t half = strlen(ans) / 2;
        ck_assert_int_eq(write(peer, ans, half), (ssize_t)half);
        g_usleep(50 * 1000);
        peer_send(ans + half);
        pthread_join(qt, NULL);
        ck_assert_int_eq(q.r, 0);
        ck_assert_str_eq(json_string_value(json_object_get(q.reply, "state")), "running");
        ck_assert_int_eq(json_integer_value(json_object_get(q.reply, "pid")), 42);
        peer_send("{\"event\":\"crashed\",\"reason\":\"triple fault\"}\n");
        g_usleep(200 * 1000);
        rd.stop = true;
        pthread_join(rt, NULL);
        ck_assert_uint_eq(rd.events->len, 2);
        ck_assert_str_eq(json_string_value(json_object_get(rd.events->pdata[0], "event")),
                         "booted");
        ck_assert_str_eq(json_string_value(json_object_get(rd.events->pdata[1], "reason")),
                         "triple fault");
        json_decref(req);
        json_decref(q.reply);
        json_decref(q.cmd);
        g_ptr_array_unref(rd.events);
}
END_TEST

START_TEST(test_error_reply_and_secret_wiped)
{
        struct reader rd = { .events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref) };
        struct requester q = { .timeout_ms = 5000 };
        pthread_t rt, qt;

        q.cmd = json_pack("{s:s, s:s, s:s, s:s, s:i}", "cmd", "set-ticket", "protocol", "spice",
                          "user", "alice", "password", "s3cret-TICKET", "expiry_s", 120);
        pthread_create(&rt, NULL, reader_main, &rd);
        pthread_create(&qt, NULL, request_main, &q);
        json_t *req = peer_recv();
        ck_assert_str_eq(json_string_value(json_object_get(req, "password")), "s3cret-TICKET");
        g_autofree char *ans = g_strdup_printf(
                "{\"id\":%lld,\"ok\":false,\"error\":\"no SPICE server\"}\n",
                json_integer_value(json_object_get(req, "id")));
        peer_send(ans);
        pthread_join(qt, NULL);
        ck_assert_int_eq(q.r, -EIO);
        ck_assert_str_eq(q.error, "no SPICE server");
        /* The caller's copy of the password is wiped once sent. */
        const char *pw = json_string_value(json_object_get(q.cmd, "password"));
        ck_assert_int_eq(pw[0], 0);
        rd.stop = true;
        pthread_join(rt, NULL);
        g_free(q.error);
        json_decref(q.cmd);
        json_decref(req);
        g_ptr_array_unref(rd.events);
}
END_TEST

START_TEST(test_timeout_hangup_and_oversize)
{
        struct reader rd = { .events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref) };
        struct requester q = { .cmd = json_pack("{s:s}", "cmd", "reset"), .timeout_ms = 300 };
        pthread_t rt, qt;

        /* No answer: a bounded wait. */
        pthread_create(&rt, NULL, reader_main, &rd);
        q.r = vmctl_request(ctl, q.cmd, q.timeout_ms, &q.reply, &q.error);
        ck_assert_int_eq(q.r, -ETIMEDOUT);
        ck_assert_ptr_nonnull(strstr(q.error, "in time"));
        g_clear_pointer(&q.error, g_free);
        json_decref(peer_recv());

        /* A line without end longer than the limit: the reader gives up. */
        char *big = g_malloc(70000);
        memset(big, 'x', 70000);
        ck_assert_int_eq(write(peer, big, 70000), 70000);
        g_free(big);
        pthread_join(rt, NULL);
        ck_assert_int_eq(rd.last, -EPROTO);

        /* The monitor shuts it: a waiting request ends at once. */
        q.timeout_ms = 5000;
        pthread_create(&qt, NULL, request_main, &q);
        json_decref(peer_recv());
        vmctl_shutdown(ctl);
        pthread_join(qt, NULL);
        ck_assert_int_eq(q.r, -EPIPE);
        g_free(q.error);
        json_decref(q.cmd);
        g_ptr_array_unref(rd.events);
}
END_TEST

/* A request with a descriptor: it comes with the line's bytes in one
 * read (lib/fdpass.h), and it is the caller's file, not a copy's. */
START_TEST(test_request_with_fd)
{
        struct reader rd = { .events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref) };
        struct requester q = { .cmd = json_pack("{s:s}", "cmd", "screenshot"), .timeout_ms = 5000 };
        int shot = memfd_create("shot", MFD_CLOEXEC), got_fd[1];
        char line[256] = "", pic[8] = "";
        size_t n_fds = 0;
        bool extra;
        pthread_t rt, qt;

        ck_assert_int_ge(shot, 0);
        q.r = shot;
        pthread_create(&rt, NULL, reader_main, &rd);
        pthread_create(&qt, NULL, request_fd_main, &q);
        struct pollfd pf = { .fd = peer, .events = POLLIN };
        ck_assert_int_eq(poll(&pf, 1, 5000), 1);
        ssize_t n = fdpass_recv(peer, line, sizeof(line) - 1, got_fd, 1, &n_fds, &extra);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(line[n - 1], '\n');
        ck_assert_uint_eq(n_fds, 1);
        ck_assert(!extra);
        ck_assert_ptr_nonnull(strstr(line, "\"cmd\":\"screenshot\""));
        ck_assert_int_eq(write(got_fd[0], "P6 ok", 5), 5);
        close(got_fd[0]);
        peer_send("{\"id\":1,\"ok\":true}\n");
        pthread_join(qt, NULL);
        ck_assert_int_eq(q.r, 0);
        ck_assert_int_eq(pread(shot, pic, sizeof(pic), 0), 5);
        ck_assert_str_eq(pic, "P6 ok");
        close(shot);
        g_clear_pointer(&q.reply, json_decref);

        /* Without one (fd -1), nothing is attached. */
        q.r = -1;
        pthread_create(&qt, NULL, request_fd_main, &q);
        ck_assert_int_eq(poll(&pf, 1, 5000), 1);
        n = fdpass_recv(peer, line, sizeof(line) - 1, got_fd, 1, &n_fds, &extra);
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(n_fds, 0);
        peer_send("{\"id\":2,\"ok\":true}\n");
        pthread_join(qt, NULL);
        ck_assert_int_eq(q.r, 0);
        json_decref(q.reply);
        rd.stop = true;
        pthread_join(rt, NULL);
        json_decref(q.cmd);
        g_ptr_array_unref(rd.events);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("hostd-vmctl");
        TCase *tc = tcase_create("vmctl");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_reply_routing_and_events);
        tcase_add_test(tc, test_error_reply_and_secret_wiped);
        tcase_add_test(tc, test_timeout_hangup_and_oversize);
        tcase_add_test(tc, test_request_with_fd);
        suite_add_tcase(s, tc);
        return s;
}
