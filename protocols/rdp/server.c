/* The RDP server object: listening socket and frame tick on the caller's
 * GMainContext, a thread per client (peer.c), the ticket store (ticket.c).
 *
 * Why a listener per vdi-vm rather than one per host routing on the
 * "Cookie: msts=" token: each desktop's protocol servers live in that
 * desktop's process (a parser bug or exploit stays there, privileges are
 * dropped per VM), and FreeRDP's server state is per process. A host-wide
 * router would have to parse X.224 before TLS and pass the socket to the VM
 * process; the cookie is then only a lookup key, never a secret. With a
 * port per VM (chosen by hostd, written into the .rdp file's "full
 * address") no routing is needed and the cookie is ignored. */
#include "config.h"

#include <errno.h>
#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <winpr/ssl.h>
#include <winpr/wtsapi.h>

#include "internal.h"
#include "log.h"
#include "macro.h"

#define MAX_DAMAGE_RECTS 64

static gpointer freerdp_init_once(gpointer unused)
{
        winpr_InitializeSSL(WINPR_SSL_INIT_DEFAULT);
        WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi());
        return NULL;
}

void rdp_server_record_frame(struct rdp_server *srv, int kind, size_t bytes, uint32_t encode_us)
{
        g_mutex_lock(&srv->lock);
        srv->stats.frames++;
        srv->stats.bytes += bytes;
        if (kind == RDP_FRAME_H264)
                srv->stats.h264_frames++;
        else if (kind == RDP_FRAME_PLANAR)
                srv->stats.planar_frames++;
        else
                srv->stats.bitmap_frames++;
        srv->enc_us[(srv->enc_head + srv->enc_count) % RDP_ENCODE_TIMES] = encode_us;
        if (srv->enc_count < RDP_ENCODE_TIMES)
                srv->enc_count++;
        else
                srv->enc_head = (srv->enc_head + 1) % RDP_ENCODE_TIMES;
        g_mutex_unlock(&srv->lock);
}

void rdp_server_get_stats(struct rdp_server *srv, struct rdp_server_stats *out)
{
        g_mutex_lock(&srv->lock);
        *out = srv->stats;
        out->peers = srv->peers->len;
        g_mutex_unlock(&srv->lock);
}

size_t rdp_server_take_encode_times(struct rdp_server *srv, uint32_t *us, size_t max)
{
        size_t n;
        g_mutex_lock(&srv->lock);
        n = MIN(max, srv->enc_count);
        for (size_t i = 0; i < n; i++)
                us[i] = srv->enc_us[(srv->enc_head + i) % RDP_ENCODE_TIMES];
        srv->enc_head = (srv->enc_head + n) % RDP_ENCODE_TIMES;
        srv->enc_count -= n;
        g_mutex_unlock(&srv->lock);
        return n;
}

uint16_t rdp_server_port(const struct rdp_server *srv)
{
        return srv->port;
}

int rdp_server_set_ticket(struct rdp_server *srv, const char *user, const char *password,
                          unsigned expiry_seconds)
{
        int r = rdp_tickets_set(&srv->tickets, user, password, expiry_seconds);
        if (r == 0)
                log_info("rdp_ticket_set", "port=%u expiry_s=%u", srv->port, expiry_seconds);
        return r;
}

unsigned rdp_server_disconnect(struct rdp_server *srv)
{
        unsigned n = 0;

        rdp_tickets_clear(&srv->tickets);
        g_mutex_lock(&srv->lock);
        for (guint i = 0; i < srv->peers->len; i++) {
                struct rdp_peer *p = g_ptr_array_index(srv->peers, i);
                if (!g_atomic_int_get(&p->done)) {
                        SetEvent(p->stop_event);
                        n++;
                }
        }
        g_mutex_unlock(&srv->lock);
        log_info("rdp_disconnect", "port=%u sessions=%u", srv->port, n);
        return n;
}

/* Reap finished peer threads. Lock held. */
static void reap_locked(struct rdp_server *srv)
{
        for (guint i = srv->peers->len; i-- > 0;) {
                struct rdp_peer *p = g_ptr_array_index(srv->peers, i);
                if (g_atomic_int_get(&p->done)) {
                        g_ptr_array_remove_index_fast(srv->peers, i);
                        rdp_peer_reap(p);
                }
        }
}

/* The frame tick: collect the source's damage once and hand it to every
 * client; each client's thread sends when its pipeline allows. */
static gboolean on_tick(gpointer data)
{
        struct rdp_server *srv = data;
        struct display_rect rects[MAX_DAMAGE_RECTS];
        struct display_surface s;
        int n;
        bool geometry, cursor;

        rdp_tickets_expire(&srv->tickets);
        cursor = rdp_pointer_poll(srv);

        if (srv->source.ops->get_surface(srv->source.opaque, &s) < 0 ||
            s.format != DISPLAY_FORMAT_XRGB8888 || s.width == 0 || s.height == 0 ||
            s.width > 8192 || s.height > 8192 || s.stride < s.width * 4)
                return G_SOURCE_CONTINUE;
        n = srv->source.ops->collect_damage(srv->source.opaque, rects, ARRAY_SIZE(rects));

        g_mutex_lock(&srv->lock);
        reap_locked(srv);
        geometry = !srv->have_surface || srv->surface.generation != s.generation ||
                   srv->surface.width != s.width || srv->surface.height != s.height;
        srv->surface = s;
        srv->have_surface = true;
        for (guint i = 0; i < srv->peers->len; i++) {
                struct rdp_peer *p = g_ptr_array_index(srv->peers, i);
                bool wake = geometry || cursor;
                g_mutex_lock(&p->lock);
                for (int k = 0; k < n; k++) {
                        struct display_rect r = rects[k];
                        RECTANGLE_16 rr;
                        if (r.x >= s.width || r.y >= s.height || r.w == 0 || r.h == 0)
                                continue;
                        rr.left = (UINT16)r.x;
                        rr.top = (UINT16)r.y;
                        rr.right = (UINT16)MIN((uint64_t)r.x + r.w, s.width);
                        rr.bottom = (UINT16)MIN((uint64_t)r.y + r.h, s.height);
                        region16_union_rect(&p->pending, &p->pending, &rr);
                        wake = true;
                }
                g_mutex_unlock(&p->lock);
                if (wake)
                        SetEvent(p->update_event);
        }
        g_mutex_unlock(&srv->lock);
        return G_SOURCE_CONTINUE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
        struct rdp_server *srv = data;

        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                log_warning("rdp_accept_failed", "port=%u errno=%d", srv->port, errno);
                        break;
                }
                if (rdp_peer_spawn(srv, c) < 0)
                        log_warning("rdp_peer_spawn_failed", "port=%u", srv->port);
        }
        return G_SOURCE_CONTINUE;
}

static int listen_socket(const char *addr, uint16_t port, int *out_fd, uint16_t *out_port)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        _cleanup_close_ int fd = -1;
        int one = 1;

        if (strchr(addr, ':')) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
                        return -EINVAL;
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
                        return -EINVAL;
                len = sizeof(*a);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0)
                return -errno;
        len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
        *out_fd = TAKE_FD(fd);
        return 0;
}

int rdp_server_start(const struct rdp_server_config *cfg, struct display_source source,
                     GMainContext *ctx, struct rdp_server **out, char **error)
{
        static GOnce once = G_ONCE_INIT;
        struct rdp_server *srv;
        int r;

        *error = NULL;
        if (!cfg->cert_file || access(cfg->cert_file, R_OK) < 0) {
                *error = g_strdup_printf("rdp: certificate file %s is not readable "
                                         "(set the host certificate path)",
                                         cfg->cert_file ? cfg->cert_file : "(unset)");
                return -EINVAL;
        }
        if (!cfg->key_file || access(cfg->key_file, R_OK) < 0) {
                *error = g_strdup_printf("rdp: key file %s is not readable "
                                         "(set the host key path)",
                                         cfg->key_file ? cfg->key_file : "(unset)");
                return -EINVAL;
        }
        if (cfg->fps > 120) {
                *error = g_strdup_printf("rdp: fps %u is out of range 1..120", cfg->fps);
                return -EINVAL;
        }
        g_once(&once, freerdp_init_once, NULL);

        srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->listen_fd = -1;
        srv->cfg = *cfg;
        srv->bind_address = g_strdup(cfg->bind_address ? cfg->bind_address : "127.0.0.1");
        srv->cert_file = g_strdup(cfg->cert_file);
        srv->key_file = g_strdup(cfg->key_file);
        srv->h264_encoder = g_strdup(cfg->h264_encoder);
        srv->cfg.bind_address = srv->bind_address;
        srv->cfg.cert_file = srv->cert_file;
        srv->cfg.key_file = srv->key_file;
        srv->cfg.h264_encoder = srv->h264_encoder;
        srv->cfg.runtime_dir = NULL;
        g_mutex_init(&srv->lock);
        srv->peers = g_ptr_array_new();
        g_mutex_init(&srv->clip_lock);
        srv->clip_out = g_byte_array_new();
        if (!g_file_get_contents(cfg->cert_file, &srv->cert_pem, NULL, NULL) ||
            !g_file_get_contents(cfg->key_file, &srv->key_pem, NULL, NULL) ||
            !strstr(srv->cert_pem, "-----BEGIN") || !strstr(srv->key_pem, "-----BEGIN")) {
                *error = g_strdup_printf("rdp: cannot read a PEM certificate from %s and key from %s",
                                         cfg->cert_file, cfg->key_file);
                r = -EINVAL;
                goto fail;
        }
        if (!srv->cfg.fps)
                srv->cfg.fps = 30;
        if (!srv->cfg.max_frames_in_flight)
                srv->cfg.max_frames_in_flight = 2;
        srv->source = source;
        srv->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());

        r = rdp_tickets_init(&srv->tickets, cfg->runtime_dir, error);
        if (r < 0)
                goto fail;
        r = listen_socket(srv->bind_address, cfg->port, &srv->listen_fd, &srv->port);
        if (r < 0) {
                *error = g_strdup_printf("rdp: cannot listen on %s port %u: %s",
                                         srv->bind_address, cfg->port, strerror(-r));
                goto fail;
        }
        srv->listen_src = g_unix_fd_source_new(srv->listen_fd, G_IO_IN);
        g_source_set_callback(srv->listen_src, G_SOURCE_FUNC(on_accept), srv, NULL);
        g_source_attach(srv->listen_src, srv->ctx);
        srv->tick_src = g_timeout_source_new(1000 / srv->cfg.fps);
        g_source_set_callback(srv->tick_src, on_tick, srv, NULL);
        g_source_attach(srv->tick_src, srv->ctx);
        log_info("rdp_listening", "address=%s port=%u nla=yes tls_only=%s h264=%s",
                 srv->bind_address, srv->port, cfg->allow_tls_only ? "yes" : "no",
                 cfg->disable_h264 ? "no" : "yes");
        *out = srv;
        return 0;
fail:
        rdp_server_stop(srv);
        return r;
}

void rdp_server_stop(struct rdp_server *srv)
{
        if (!srv)
                return;
        if (srv->listen_src) {
                g_source_destroy(srv->listen_src);
                g_source_unref(srv->listen_src);
        }
        if (srv->tick_src) {
                g_source_destroy(srv->tick_src);
                g_source_unref(srv->tick_src);
        }
        if (srv->listen_fd >= 0)
                close(srv->listen_fd);
        /* Peers are only added from on_accept, which can no longer run. */
        g_mutex_lock(&srv->lock);
        for (guint i = 0; i < srv->peers->len; i++)
                SetEvent(((struct rdp_peer *)g_ptr_array_index(srv->peers, i))->stop_event);
        g_mutex_unlock(&srv->lock);
        for (guint i = 0; i < srv->peers->len; i++)
                rdp_peer_reap(g_ptr_array_index(srv->peers, i));
        g_ptr_array_unref(srv->peers);
        rdp_tickets_fini(&srv->tickets);
        g_mutex_clear(&srv->lock);
        agent_clip_free(srv->clip);
        g_byte_array_unref(srv->clip_out);
        g_free(srv->clip_text);
        g_mutex_clear(&srv->clip_lock);
        if (srv->ctx)
                g_main_context_unref(srv->ctx);
        g_free(srv->bind_address);
        g_free(srv->cert_file);
        g_free(srv->key_file);
        g_free(srv->cert_pem);
        if (srv->key_pem) {
                explicit_bzero(srv->key_pem, strlen(srv->key_pem));
                g_free(srv->key_pem);
        }
        g_free(srv->h264_encoder);
        free(srv->cursor);
        free(srv->cursor_next);
        free(srv);
}
