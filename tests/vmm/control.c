/* The control socket (hostd/vmm/control.c) with a fake VM behind it: the
 * exact reply lines of the contract, bad requests, events. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CHECK_NOFORK
#include "check-main.h"
#include "control.h"
#include "fdpass.h"

struct fake {
        int stops, resets;
        int key_code, key_pressed;
        uint32_t px, py, pb;
        int32_t wheel;
        int shots;
        bool shot_fail;
        char ticket[512];
};

static void f_status(void *o, struct control_status *st)
{
        st->state = "running";
        st->cpus = 2;
        st->memory_mb = 512;
}
static void f_stop(void *o)
{
        ((struct fake *)o)->stops++;
}
static int f_reset(void *o, char *err, size_t n)
{
        ((struct fake *)o)->resets++;
        return 0;
}
static void f_key(void *o, uint16_t code, bool pressed)
{
        ((struct fake *)o)->key_code = code;
        ((struct fake *)o)->key_pressed = pressed;
}
static void f_pointer(void *o, uint32_t x, uint32_t y, uint32_t b)
{
        struct fake *f = o;
        f->px = x;
        f->py = y;
        f->pb = b;
}
static void f_wheel(void *o, int32_t d)
{
        ((struct fake *)o)->wheel = d;
}
/* Writes a marker where the socket says: the bytes show which file. */
static int f_shot(void *o, int out, char *err, size_t n)
{
        struct fake *f = o;

        if (f->shot_fail) {
                snprintf(err, n, "No space left on device");
                return -ENOSPC;
        }
        f->shots++;
        return write(out, "P6 fake\n", 8) == 8 ? 0 : -EIO;
}
static int f_ticket(void *o, const char *proto, const char *user, const char *pw, unsigned exp, char *err, size_t n)
{
        snprintf(((struct fake *)o)->ticket, 512, "%s/%s/%s/%u", proto, user, pw, exp);
        return 0;
}

static int f_damage(void *o, struct display_rect *r, size_t max)
{
        r[0] = (struct display_rect){ 1, 2, 3, 4 };
        r[1] = (struct display_rect){ 5, 6, 7, 8 };
        return 2;
}

/* One display client is connected until the first disconnect. */
static int f_disconnect(void *o, char *err, size_t n)
{
        static int clients = 1;
        int had = clients;
        (void)o;
        (void)err;
        (void)n;
        clients = 0;
        return had;
}

/* Makes the directory it is given, as vdi-vm's suspend makes its state. */
static char suspended_to[256];
static int f_suspend(void *o, const char *dir, struct control_snapshot *out, char *err, size_t n)
{
        (void)o;
        snprintf(suspended_to, sizeof(suspended_to), "%s", dir);
        if (mkdir(dir, 0700) < 0) {
                snprintf(err, n, "%s", strerror(errno));
                return -errno;
        }
        out->paused_ms = 1;
        return 0;
}

static const struct control_handler handler = {
        f_status, f_stop, f_reset, f_key, f_pointer, f_wheel, f_shot, f_ticket, f_damage,
        .disconnect = f_disconnect, .suspend = f_suspend,
};

static struct fake fake;
static struct control *ctl;
static char path[108];
static int fd;
static FILE *in;

static void setup(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *err = NULL;

        memset(&fake, 0, sizeof(fake));
        snprintf(path, sizeof(path), "/tmp/ctl-test-%d.sock", getpid());
        ck_assert_int_eq(control_start(path, &handler, &fake, &ctl, &err), 0);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        in = fdopen(dup(fd), "r");
}

static void teardown(void)
{
        fclose(in);
        close(fd);
        control_stop(ctl);
        ck_assert_int_eq(access(path, F_OK), -1);
}

/* Send one request line, return the reply line (static buffer). */
static const char *ask(const char *req)
{
        static char line[4096];

        ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        ck_assert_int_eq(write(fd, "\n", 1), 1);
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
        line[strcspn(line, "\n")] = '\0';
        return line;
}

START_TEST(test_contract)
{
        char want[128];

        snprintf(want, sizeof(want), "{\"id\":1,\"ok\":true,\"state\":\"running\",\"cpus\":2,\"memory_mb\":512,\"pid\":%d}",
                 getpid());
        ck_assert_str_eq(ask("{\"id\":1,\"cmd\":\"status\"}"), want);
        ck_assert_str_eq(ask("{\"id\":2,\"cmd\":\"key\",\"code\":30,\"pressed\":true}"), "{\"id\":2,\"ok\":true}");
        ck_assert_int_eq(fake.key_code, 30);
        ck_assert_int_eq(fake.key_pressed, 1);
        ck_assert_str_eq(ask("{\"id\":3,\"cmd\":\"pointer\",\"x\":100,\"y\":32767,\"buttons\":5}"), "{\"id\":3,\"ok\":true}");
        ck_assert_uint_eq(fake.px, 100);
        ck_assert_uint_eq(fake.py, 32767);
        ck_assert_uint_eq(fake.pb, 5);
        ck_assert_str_eq(ask("{\"id\":4,\"cmd\":\"wheel\",\"delta\":-2}"), "{\"id\":4,\"ok\":true}");
        ck_assert_int_eq(fake.wheel, -2);
        {
                char req[256], shot[64], got[16] = "";
                int in_fd;
                snprintf(shot, sizeof(shot), "/tmp/ctl-test-%d.ppm", getpid());
                snprintf(req, sizeof(req), "{\"id\":5,\"cmd\":\"screenshot\",\"path\":\"%s\"}", shot);
                ck_assert_str_eq(ask(req), "{\"id\":5,\"ok\":true}");
                in_fd = open(shot, O_RDONLY | O_CLOEXEC);
                ck_assert_int_ge(in_fd, 0);
                ck_assert_int_eq(read(in_fd, got, sizeof(got)), 8);
                close(in_fd);
                unlink(shot);
                ck_assert_str_eq(got, "P6 fake\n");
        }
        ck_assert_str_eq(ask("{\"id\":51,\"cmd\":\"disconnect\"}"), "{\"id\":51,\"ok\":true,\"sessions\":1}");
        ck_assert_str_eq(ask("{\"id\":52,\"cmd\":\"disconnect\"}"), "{\"id\":52,\"ok\":true,\"sessions\":0}");
        ck_assert_int_eq(fake.shots, 1);
        ck_assert_str_eq(ask("{\"id\":6,\"cmd\":\"set-ticket\",\"protocol\":\"rdp\",\"user\":\"alice\",\"password\":\"s3cret\",\"expiry_s\":120}"),
                         "{\"id\":6,\"ok\":true}");
        ck_assert_str_eq(fake.ticket, "rdp/alice/s3cret/120");
        ck_assert_str_eq(ask("{\"id\":7,\"cmd\":\"reset\"}"), "{\"id\":7,\"ok\":true}");
        ck_assert_str_eq(ask("{\"id\":71,\"cmd\":\"damage\"}"), "{\"id\":71,\"ok\":true,\"rects\":[[1,2,3,4],[5,6,7,8]]}");
        ck_assert_int_eq(fake.resets, 1);
        ck_assert_str_eq(ask("{\"id\":8,\"cmd\":\"stop\"}"), "{\"id\":8,\"ok\":true}");
        /* the reply goes out first, then the VM is stopped */
        for (int i = 0; i < 1000 && __atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE) == 0; i++)
                usleep(1000);
        ck_assert_int_eq(__atomic_load_n(&fake.stops, __ATOMIC_ACQUIRE), 1);
}
END_TEST

START_TEST(test_errors)
{
        char *big;

        ck_assert_str_eq(ask("not json"),
                         "{\"id\":null,\"ok\":false,\"error\":\"malformed JSON: '[' or '{' expected near 'not' (line 1, column 3)\"}");
        ck_assert_str_eq(ask("[1,2]"), "{\"id\":null,\"ok\":false,\"error\":\"request must be a JSON object\"}");
        ck_assert_str_eq(ask("{\"id\":\"x\",\"cmd\":\"status\"}"), "{\"id\":null,\"ok\":false,\"error\":\"\\\"id\\\" must be an integer\"}");
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9}"), "missing \\\"cmd\\\""));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"fly\"}"), "unknown command \\\"fly\\\""));
#ifdef VDI_TEST_COMMANDS
        /* the test builds' debug command, unconfined: says so, lives on */
        ck_assert_str_eq(ask("{\"id\":9,\"cmd\":\"jail-trip\"}"),
                         "{\"id\":9,\"ok\":false,\"error\":\"jail-trip: personality was let through (is seccomp off?)\"}");
#else
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"jail-trip\"}"), "unknown command \\\"jail-trip\\\""));
#endif
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"key\",\"code\":0,\"pressed\":true}"), "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"key\",\"code\":30,\"pressed\":1}"), "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"pointer\",\"x\":40000,\"y\":0,\"buttons\":0}"), "0..32767"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"pointer\",\"x\":1,\"y\":1,\"buttons\":8}"), "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"wheel\",\"delta\":0}"), "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"screenshot\",\"path\":\"rel.ppm\"}"), "absolute"));
        ck_assert_str_eq(ask("{\"id\":10,\"cmd\":\"screenshot\",\"path\":\"/fail/x.ppm\"}"),
                         "{\"id\":10,\"ok\":false,\"error\":\"screenshot to /fail/x.ppm failed: No such file or directory\"}");
        ck_assert_str_eq(ask("{\"id\":10,\"cmd\":\"screenshot\",\"path\":\"/dev/null\"}"),
                         "{\"id\":10,\"ok\":false,\"error\":\"screenshot to /dev/null failed: it is not a regular file or memfd\"}");
        ck_assert_int_eq(fake.shots, 0);
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"set-ticket\",\"protocol\":\"vnc\",\"user\":\"a\",\"password\":\"b\",\"expiry_s\":1}"),
                                     "\\\"spice\\\", \\\"rdp\\\" or \\\"web\\\""));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"set-ticket\",\"protocol\":\"spice\",\"user\":\"a\",\"password\":\"\",\"expiry_s\":1}"),
                                     "\"ok\":false"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":9,\"cmd\":\"set-ticket\",\"protocol\":\"spice\",\"user\":\"a\",\"password\":\"b\",\"expiry_s\":0}"),
                                     "expiry_s"));
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":1,\"id\":2,\"cmd\":\"status\"}"), "malformed JSON"));
        ck_assert_str_eq(fake.ticket, "");

        /* oversize line: one error, then the connection still works */
        big = malloc(CONTROL_MAX_LINE + 100);
        memset(big, ' ', CONTROL_MAX_LINE + 99);
        big[CONTROL_MAX_LINE + 99] = '\0';
        ck_assert_str_eq(ask(big), "{\"id\":null,\"ok\":false,\"error\":\"request line longer than 65536 bytes\"}");
        free(big);
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":11,\"cmd\":\"status\"}"), "\"id\":11"));
        /* two requests in one write, and a blank line in between */
        {
                char l1[256], l2[256];
                const char *two = "{\"id\":12,\"cmd\":\"status\"}\n\n{\"id\":13,\"cmd\":\"wheel\",\"delta\":1}\n";
                ck_assert_int_eq(write(fd, two, strlen(two)), (ssize_t)strlen(two));
                ck_assert_ptr_nonnull(fgets(l1, sizeof(l1), in));
                ck_assert_ptr_nonnull(fgets(l2, sizeof(l2), in));
                ck_assert_ptr_nonnull(strstr(l1, "\"id\":12"));
                ck_assert_str_eq(l2, "{\"id\":13,\"ok\":true}\n");
        }
}
END_TEST

START_TEST(test_events)
{
        char line[256];

        ask("{\"id\":1,\"cmd\":\"status\"}"); /* the connection is accepted */
        control_event(ctl, "booted", NULL);
        control_event(ctl, "crashed", "vCPU 0: KVM internal error");
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
        ck_assert_str_eq(line, "{\"event\":\"booted\"}\n");
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
        ck_assert_str_eq(line, "{\"event\":\"crashed\",\"reason\":\"vCPU 0: KVM internal error\"}\n");
        /* raised on a device thread, sent by the control thread */
        control_agent_ready_later(ctl);
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
        ck_assert_str_eq(line, "{\"event\":\"agent-ready\"}\n");
        /* a client connecting later still learns that the guest booted
         * and that its agent is up */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int fd2 = socket(AF_UNIX, SOCK_STREAM, 0);
                FILE *in2;
                strcpy(sa.sun_path, path);
                ck_assert_int_eq(connect(fd2, (struct sockaddr *)&sa, sizeof(sa)), 0);
                in2 = fdopen(fd2, "r");
                ck_assert_ptr_nonnull(fgets(line, sizeof(line), in2));
                ck_assert_str_eq(line, "{\"event\":\"booted\"}\n");
                ck_assert_ptr_nonnull(fgets(line, sizeof(line), in2));
                ck_assert_str_eq(line, "{\"event\":\"agent-ready\"}\n");
                fclose(in2);
        }
}
END_TEST

/* Descriptors open in this process (the control thread is in it too). */
static int open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Send text with the n descriptors fds in one sendmsg (n may be 0). */
static void send_fds(const char *text, const int *fds, size_t n)
{
        char ctl[CMSG_SPACE(sizeof(int) * 4)] = { 0 };
        struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n) {
                m.msg_control = ctl;
                m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        }
        ck_assert_int_eq(sendmsg(fd, &m, 0), (ssize_t)strlen(text));
}

/* The next reply line (static buffer, newline stripped). */
static const char *next_reply(void)
{
        static char line[4096];

        ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
        line[strcspn(line, "\n")] = '\0';
        return line;
}

/* A pipe's write end sent along: once vdi-vm's copy is closed (and ours),
 * the read end sees EOF; that proves the socket kept nothing. */
static void assert_closed_remotely(int rd)
{
        struct pollfd pf = { .fd = rd, .events = POLLIN };
        char c;

        ck_assert_int_eq(poll(&pf, 1, 10000), 1);
        ck_assert_int_eq(read(rd, &c, 1), 0);
        close(rd);
}

START_TEST(test_screenshot_fd)
{
        int shot = memfd_create("shot", MFD_CLOEXEC), before;
        char got[16] = "";

        /* hostd's form: the line and a memfd in one sendmsg */
        ck_assert_int_ge(shot, 0);
        ck_assert_int_eq(fdpass_send(fd, "{\"id\":1,\"cmd\":\"screenshot\"}\n", 28, shot), 0);
        ck_assert_str_eq(next_reply(), "{\"id\":1,\"ok\":true}");
        ck_assert_int_eq(pread(shot, got, sizeof(got), 0), 8);
        ck_assert_str_eq(got, "P6 fake\n");
        ck_assert_int_eq(fake.shots, 1);
        before = open_fds();

        /* back to back with a request without one: each gets its own */
        ck_assert_int_eq(ftruncate(shot, 0), 0);
        ck_assert_int_eq(lseek(shot, 0, SEEK_SET), 0);
        send_fds("{\"id\":2,\"cmd\":\"status\"}\n", NULL, 0);
        send_fds("{\"id\":3,\"cmd\":\"screenshot\"}\n", &shot, 1);
        send_fds("{\"id\":4,\"cmd\":\"wheel\",\"delta\":1}\n", NULL, 0);
        ck_assert_ptr_nonnull(strstr(next_reply(), "{\"id\":2,\"ok\":true"));
        ck_assert_str_eq(next_reply(), "{\"id\":3,\"ok\":true}");
        ck_assert_str_eq(next_reply(), "{\"id\":4,\"ok\":true}");
        ck_assert_int_eq(fake.shots, 2);

        /* the descriptor with the first part of a line goes to that line */
        send_fds("{\"id\":5,\"cmd\":\"scr", &shot, 1);
        usleep(20000);
        send_fds("eenshot\"}\n", NULL, 0);
        ck_assert_str_eq(next_reply(), "{\"id\":5,\"ok\":true}");
        ck_assert_int_eq(fake.shots, 3);

        /* the handler's failure is named */
        fake.shot_fail = true;
        send_fds("{\"id\":6,\"cmd\":\"screenshot\"}\n", &shot, 1);
        ck_assert_str_eq(next_reply(), "{\"id\":6,\"ok\":false,\"error\":\"screenshot to the passed file descriptor failed: No space left on device\"}");
        ck_assert_int_eq(open_fds(), before);
        close(shot);
}
END_TEST

START_TEST(test_screenshot_fd_hostile)
{
        int shot = memfd_create("shot", MFD_CLOEXEC), p[2], before;
        char ro_path[64];
        int ro;

        ck_assert_int_ge(shot, 0);
        snprintf(ro_path, sizeof(ro_path), "/proc/self/fd/%d", shot);
        ro = open(ro_path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(ro, 0);
        ask("{\"id\":0,\"cmd\":\"status\"}"); /* accepted, its buffers made */
        before = open_fds();

        /* a descriptor on another command */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        send_fds("{\"id\":1,\"cmd\":\"status\"}\n", &p[1], 1);
        close(p[1]);
        ck_assert_str_eq(next_reply(), "{\"id\":1,\"ok\":false,\"error\":\"\\\"status\\\" takes no file descriptor (only screenshot and suspend do; it was closed)\"}");
        assert_closed_remotely(p[0]);

        /* two with one command (each a pipe, to see both closed) */
        {
                int q[2], two[2];
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
                two[0] = p[1];
                two[1] = q[1];
                send_fds("{\"id\":2,\"cmd\":\"screenshot\"}\n", two, 2);
                close(p[1]);
                close(q[1]);
                ck_assert_str_eq(next_reply(), "{\"id\":2,\"ok\":false,\"error\":\"\\\"screenshot\\\": more than one file descriptor came with it (at most one per command; all were closed)\"}");
                assert_closed_remotely(p[0]);
                assert_closed_remotely(q[0]);
        }

        /* a pipe is no file; a read-only memfd is not writable */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        send_fds("{\"id\":3,\"cmd\":\"screenshot\"}\n", &p[1], 1);
        close(p[1]);
        ck_assert_str_eq(next_reply(), "{\"id\":3,\"ok\":false,\"error\":\"screenshot to the passed file descriptor failed: it is not a regular file or memfd\"}");
        assert_closed_remotely(p[0]);
        send_fds("{\"id\":4,\"cmd\":\"screenshot\"}\n", &ro, 1);
        ck_assert_str_eq(next_reply(), "{\"id\":4,\"ok\":false,\"error\":\"screenshot to the passed file descriptor failed: it is not open for writing\"}");

        /* a path and a descriptor */
        send_fds("{\"id\":5,\"cmd\":\"screenshot\",\"path\":\"/tmp/x.ppm\"}\n", &shot, 1);
        ck_assert_str_eq(next_reply(), "{\"id\":5,\"ok\":false,\"error\":\"screenshot takes a \\\"path\\\" or a passed file descriptor, not both\"}");

        /* with no command: an empty line, bad JSON, an oversize line */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        send_fds("\n", &p[1], 1);
        close(p[1]);
        ck_assert_str_eq(next_reply(), "{\"id\":null,\"ok\":false,\"error\":\"a file descriptor came without a command (it was closed)\"}");
        assert_closed_remotely(p[0]);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        send_fds("{nope\n", &p[1], 1);
        close(p[1]);
        ck_assert_ptr_nonnull(strstr(next_reply(), "malformed JSON"));
        assert_closed_remotely(p[0]);
        {
                char *big = malloc(CONTROL_MAX_LINE + 2);
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                memset(big, 'x', CONTROL_MAX_LINE + 1);
                big[CONTROL_MAX_LINE + 1] = '\0';
                send_fds(big, &p[1], 1);
                close(p[1]);
                free(big);
                ck_assert_ptr_nonnull(strstr(next_reply(), "longer than"));
                send_fds("\n", NULL, 0);
                assert_closed_remotely(p[0]);
        }
        /* a descriptor and a hang-up before the line ends (a second
         * connection: this one stays for teardown) */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                strcpy(sa.sun_path, path);
                ck_assert_int_eq(connect(c2, (struct sockaddr *)&sa, sizeof(sa)), 0);
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                ck_assert_int_eq(fdpass_send(c2, "{\"id\":7,\"cmd\":\"scr", 17, p[1]), 0);
                close(p[1]);
                close(c2);
                assert_closed_remotely(p[0]);
        }

        /* nothing was written, nothing stayed open */
        ck_assert_int_eq(fake.shots, 0);
        ck_assert_int_eq(lseek(shot, 0, SEEK_END), 0);
        close(ro);
        close(shot);
        /* the socket's end of the second connection closes just after */
        for (int i = 0; i < 200 && open_fds() != before - 2; i++)
                usleep(10000);
        ck_assert_int_eq(open_fds(), before - 2);
}
END_TEST

/* suspend into a directory passed with the request (hostd's form for a
 * vdi-vm that cannot reach the VM's directory by path), and the bad ways
 * to ask for it. */
START_TEST(test_suspend_passed_dir)
{
        char tmpl[] = "/tmp/ctl-suspend-XXXXXX", made[300];
        const char *dir = mkdtemp(tmpl);
        int dfd, before, p[2];
        struct stat st;

        ck_assert_ptr_nonnull(dir);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        ask("{\"id\":0,\"cmd\":\"status\"}");
        before = open_fds();
        send_fds("{\"id\":1,\"cmd\":\"suspend\",\"name\":\"s1\"}\n", &dfd, 1);
        ck_assert_ptr_nonnull(strstr(next_reply(), "{\"id\":1,\"ok\":true"));
        ck_assert_int_eq(strncmp(suspended_to, "/proc/self/fd/", 14), 0);
        snprintf(made, sizeof(made), "%s/s1", dir);
        ck_assert_int_eq(stat(made, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        rmdir(made);

        static const char *const bad[] = {
                "{\"id\":2,\"cmd\":\"suspend\",\"name\":\"../x\"}\n",
                "{\"id\":2,\"cmd\":\"suspend\",\"name\":\"..\"}\n",
                "{\"id\":2,\"cmd\":\"suspend\",\"name\":\"\"}\n",
                "{\"id\":2,\"cmd\":\"suspend\"}\n",
                "{\"id\":2,\"cmd\":\"suspend\",\"name\":\"x\",\"dir\":\"/tmp/y\"}\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                send_fds(bad[i], &dfd, 1);
                ck_assert_msg(strstr(next_reply(), "suspend with a passed directory needs a \\\"name\\\""), "%s", bad[i]);
        }
        /* not a directory; nothing passed and no dir */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        send_fds("{\"id\":3,\"cmd\":\"suspend\",\"name\":\"x\"}\n", &p[1], 1);
        close(p[1]);
        ck_assert_str_eq(next_reply(), "{\"id\":3,\"ok\":false,\"error\":\"suspend: the passed file descriptor is not a directory\"}");
        assert_closed_remotely(p[0]);
        ck_assert_ptr_nonnull(strstr(ask("{\"id\":4,\"cmd\":\"suspend\",\"name\":\"x\"}"), "suspend needs an absolute"));
        ck_assert_int_eq(open_fds(), before);
        close(dfd);
        rmdir(dir);
}
END_TEST

static Suite *make_suite(void)
{
        Suite *s = suite_create("control");
        TCase *tc = tcase_create("socket");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_contract);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_events);
        tcase_add_test(tc, test_screenshot_fd);
        tcase_add_test(tc, test_screenshot_fd_hostile);
        tcase_add_test(tc, test_suspend_passed_dir);
        suite_add_tcase(s, tc);
        return s;
}
