/* The admin console (issue 24) in headless Chromium (tests/broker/cdp.c)
 * against the broker in-process with real PostgreSQL and slapd
 * (tests/broker/fixture.c): dave (an LDAP admin) signs in on the portal,
 * opens the console, sees the overview with the counts the admin API
 * gives, creates a pool through the form (one validation error shown next
 * to its field, then fixed), finds desktops (deleted ones only as
 * history), resets one (its host is not reachable: the failure is shown
 * and audited), signs alice out, and finds each action in the audit log.
 * alice, not an admin, gets 403 on every admin page and endpoint of the
 * route table; an admin's change needs the CSRF token and a recent
 * sign-in. With a real vdi-hostd running the hollow VM (tests/hostd/
 * hollow-vm) for alice's lab-1: dave sees its screen as a live thumbnail
 * (the pixels the VM drew) and disconnects alice's client (the session
 * hostd recorded ends, the desktop runs on), both audited; alice restarts
 * it from her card (the VM is reset) and connects to it again (the VM
 * gets her ticket; her card waits for her client, then says she uses the
 * desktop once vdi-hostd reports the client).
 * Screenshots of each page: tests/broker/console-*.png. */
#include "config.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/internal.h"
#include "cdp.h"
#include "fixture.h"
#include "hostd-proc.h"
#define CHECK_NOFORK
#include "check-main.h"

static struct bfx *f;
static const char *chromium;
static const char *base; /* the broker the browser uses: f->base when NULL */
/* What a test started, stopped after it even when it failed (a failed
 * assertion leaves the test at once): the next test's h1 and pool loop
 * must be its own. */
static struct hostd_proc *hostd_running;
static struct bfx_daemon *brokerd_running;

static void go(struct cdp *c, const char *path)
{
        g_autofree char *url = g_strdup_printf("%s%s", base ? base : f->base, path);
        json_decref(cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url)));
}

static void js(struct cdp *c, const char *code)
{
        json_decref(cdp_eval(c, code));
}

/* Every control of the page has an accessible name and every script is a
 * file (the CSP allows no inline script). */
static void check_page(struct cdp *c)
{
        g_autofree char *bad = cdp_eval_str(
                c, "[...document.querySelectorAll('input, select, textarea, button')]"
                   ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
                   " && !e.textContent.trim()).map(e => e.id || e.outerHTML).join(',') + "
                   "[...document.scripts].filter(s => !s.src).map(s => 'inline script').join()");
        ck_assert_msg(!*bad, "unlabelled controls or inline scripts: %s", bad);
}

/* Press a button that asks for confirmation: twice. */
static void confirm_click(struct cdp *c, const char *selector)
{
        json_t *sel = json_string(selector);
        g_autofree char *lit = json_dumps(sel, JSON_ENCODE_ANY);
        g_autofree char *code = g_strdup_printf(
                "(() => { const b = document.querySelector(%s); b.click(); b.click(); "
                "return true; })()",
                lit);
        json_decref(sel);
        js(c, code);
}

static long js_long(struct cdp *c, const char *code)
{
        json_t *v = cdp_eval(c, code);
        long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
        json_decref(v);
        return n;
}

/* An admin API answer as JSON (caller decrefs). */
static json_t *get_json(struct bclient *c, const char *path)
{
        struct breply r = bclient_req(c, "GET", path, NULL, NULL, false);
        ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body->str);
        json_t *j = json_incref(r.json);
        breply_free(&r);
        return j;
}

/* Chromium with an admin's screen, wider than the portal's default
 * window. */
static void admin_browser(struct cdp *c)
{
        cdp_start(c, chromium);
        json_decref(cdp_call(c, "Emulation.setDeviceMetricsOverride",
                             json_pack("{s:i, s:i, s:f, s:b}", "width", 1280, "height", 900,
                                       "deviceScaleFactor", 1.0, "mobile", 0)));
}

static void sign_in(struct cdp *c, const char *user, const char *pw)
{
        go(c, "/");
        cdp_wait_for(c, "!!document.getElementById('signin') && "
                        "!document.getElementById('signin').hidden");
        g_autofree char *code = g_strdup_printf(
                "document.getElementById('username').value = '%s';"
                "document.getElementById('password').value = '%s';"
                "document.getElementById('signin-button').click(); true",
                user, pw);
        js(c, code);
        cdp_wait_for(c, "!document.getElementById('who').hidden");
}

/* Put file path into the file input with id (DOM.setFileInputFiles, as
 * a person picking it in the chooser would). */
static void pick_file(struct cdp *c, const char *id, const char *path)
{
        g_autofree char *code = g_strdup_printf("document.getElementById('%s')", id);
        json_t *r = cdp_call(c, "Runtime.evaluate", json_pack("{s:s}", "expression", code));
        const char *obj = json_string_value(json_object_get(json_object_get(r, "result"),
                                                            "objectId"));
        ck_assert_ptr_nonnull(obj);
        json_decref(cdp_call(c, "DOM.setFileInputFiles",
                             json_pack("{s:[s], s:s}", "files", path, "objectId", obj)));
        json_decref(r);
}

/* Open pool name's form from its row of the pools list. */
static void edit_pool(struct cdp *c, const char *name)
{
        g_autofree char *button = g_strdup_printf("document.querySelector('button[aria-label="
                                                  "\"Edit pool %s\"]')",
                                                  name);
        g_autofree char *there = g_strdup_printf("!!%s", button);
        g_autofree char *click = g_strdup_printf("%s.click(); true", button);
        g_autofree char *open = g_strdup_printf("!document.getElementById('pool-form').hidden && "
                                                "document.getElementById('f-name').value === "
                                                "'%s'",
                                                name);
        cdp_wait_for(c, there);
        js(c, click);
        cdp_wait_for(c, open);
}

/* The audit log page filtered to actor's rows. */
static void audit_of(struct cdp *c, const char *actor)
{
        g_autofree char *filter = g_strdup_printf("document.getElementById('a-actor').value = "
                                                  "'%s'; document.querySelector('#audit-filter "
                                                  "button').click(); true",
                                                  actor);
        g_autofree char *only = g_strdup_printf("document.querySelectorAll('#audit-rows tr')"
                                                ".length > 0 && [...document.querySelectorAll("
                                                "'#audit-rows tr')].every(r => r.cells[1]"
                                                ".textContent === '%s')",
                                                actor);
        go(c, "/admin/audit");
        cdp_wait_for(c, "document.querySelectorAll('#audit-rows tr').length > 0");
        js(c, filter);
        cdp_wait_for(c, only);
}

/* Sample inventory plus what an overview needs: h1 heartbeating with
 * capacity, h2 silent (down), one desktop in use, recent sign-in timings. */
static void load_inventory(void)
{
        bfx_reset(f);
        bfx_exec(f, "UPDATE hosts SET last_heartbeat = now(), vcpus = 16, memory_mb = 65536"
                    " WHERE name = 'h1'");
        bfx_exec(f, "UPDATE desktops SET state = 'in_use' WHERE name = 'office-2';"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name)"
                    " VALUES (1, 2, 'carol');"
                    "INSERT INTO desktop_sessions (desktop_id, user_name, protocol, client_addr)"
                    " VALUES (2, 'carol', 'rdp', '192.0.2.7');"
                    "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                    " VALUES (1, NULL, 1, 'office-9', 'deleting');"
                    "INSERT INTO login_timings (at, request_id, user_name, phase, duration_us)"
                    " SELECT now() - make_interval(secs => g * 20), 'r' || g, 'u' || (g %% 3),"
                    "  ph, (CASE WHEN ph = 'session' THEN 4000"
                    "   WHEN g = 7 THEN 1500000 ELSE 90000 END)"
                    "  + (CASE WHEN ph = 'login_total' THEN 10000 ELSE 0 END) + g * 100"
                    " FROM generate_series(1, 30) g,"
                    "  unnest(ARRAY['ldap', 'session', 'login_total']) ph");
}

START_TEST(test_console_admin)
{
        struct cdp c = { 0 };
        struct bclient *api = bclient_new(f);
        struct bclient *alice = bclient_new(f);
        load_inventory();
        ck_assert_int_eq(bclient_login(api, BFX_LOCAL_ADMIN, BFX_LOCAL_ADMIN_PW), 200);
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);
        admin_browser(&c);

        /* dave signs in on the portal, which offers him the console. */
        sign_in(&c, "dave", "dave-pw");
        cdp_wait_for(&c, "!document.getElementById('admin-link').hidden");
        g_autofree char *brand = cdp_eval_str(&c, "document.title + '|' + "
                                                  "document.getElementById('help-link').href");
        ck_assert_str_eq(brand, "Example desktops|https://help.example.org/vdi");
        js(&c, "document.getElementById('admin-link').click(); true");
        cdp_wait_for(&c, "location.pathname === '/admin/overview' && "
                         "document.querySelectorAll('#pools-ov-rows tr').length > 0");

        /* The overview's counts are the admin API's. */
        json_t *pools = get_json(api, "/api/v1/admin/pools");
        json_t *hosts = get_json(api, "/api/v1/admin/hosts");
        json_t *desks = get_json(api, "/api/v1/admin/desktops");
        size_t i;
        json_t *p;
        long up = 0;
        json_array_foreach (json_object_get(hosts, "hosts"), i, p)
                up += !strcmp(json_string_value(json_object_get(p, "state")), "up");
        g_autofree char *hosts_tile = g_strdup_printf(
                "%ld / %zu", up, json_array_size(json_object_get(hosts, "hosts")));
        g_autofree char *tiles = cdp_eval_str(
                &c, "[...document.querySelectorAll('.tile')].map(t => "
                    "t.querySelector('.tile-label').textContent + '=' + "
                    "t.querySelector('.tile-value').textContent).join('|')");
        g_autofree char *want_tiles = g_strdup_printf(
                "hosts up=%s|desktops=%zu|ready=%ld|in use=1|with errors=0|signed in=3",
                hosts_tile, json_array_size(json_object_get(desks, "desktops")),
                bfx_long(f, "SELECT count(*) FROM desktops WHERE state = 'ready'"));
        ck_assert_str_eq(tiles, want_tiles);
        ck_assert_str_eq(hosts_tile, "1 / 2");
        struct breply page = bclient_req(api, "GET", "/admin/overview", NULL, NULL, false);
        g_autofree char *csp = breply_header(&page, "Content-Security-Policy");
        ck_assert_int_eq(page.status, 200);
        ck_assert_msg(csp && g_str_has_prefix(csp, "default-src 'self';"), "%s", csp);
        breply_free(&page);
        json_array_foreach (json_object_get(pools, "pools"), i, p) {
                json_t *d = json_object_get(p, "desktops");
                long size = 0;
                const char *k;
                json_t *n;
                json_object_foreach (d, k, n)
                        size += (long)json_integer_value(n);
                g_autofree char *code = g_strdup_printf(
                        "[...document.querySelectorAll('#pools-ov-rows tr')].filter(r => "
                        "r.cells[0].textContent.split(' ')[0] === '%s').map(r => "
                        "[1,2,4].map(i => r.cells[i].textContent).join(',')).join()",
                        json_string_value(json_object_get(p, "name")));
                g_autofree char *got = cdp_eval_str(&c, code);
                g_autofree char *want = g_strdup_printf(
                        "%ld / %lld,%lld,%lld", size,
                        (long long)json_integer_value(json_object_get(p, "max_size")),
                        (long long)json_integer_value(json_object_get(d, "ready")),
                        (long long)json_integer_value(json_object_get(d, "in_use")));
                ck_assert_str_eq(got, want);
        }
        json_decref(pools);
        json_decref(hosts);
        json_decref(desks);
        /* The slowest phase now is the directory's, highlighted; the chart
         * has one group of bars per minute. */
        g_autofree char *slow = cdp_eval_str(&c, "document.querySelector('#phases-rows "
                                                 "tr.slowest').cells[0].textContent");
        ck_assert_str_eq(slow, "ldap");
        ck_assert_int_eq(js_long(&c, "document.querySelectorAll('#perminute-chart "
                                     ".bar-logins').length"),
                         15);
        ck_assert_int_gt(js_long(&c, "[...document.querySelectorAll('#perminute-chart "
                                     ".bar-logins')].filter(b => b.getAttribute('height') > 0)"
                                     ".length"),
                         0);
        /* It updates live: a new desktop appears at the next poll. */
        bfx_exec(f, "INSERT INTO desktops (pool_id, host_id, image_version_id, name, state)"
                    " VALUES (3, 2, 1, 'eng-2', 'provisioning')");
        cdp_wait_for(&c, "[...document.querySelectorAll('#pools-ov-rows tr')].some(r => "
                         "r.cells[0].textContent === 'eng' && r.cells[5].textContent === '1')");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-overview.png");

        /* A pool through the form: one error next to its field, fixed;
         * then another. Instant clones that suspend after 15 minutes
         * without a client (issue 20). */
        go(&c, "/admin/pools");
        cdp_wait_for(&c, "document.querySelectorAll('#pools-rows tr').length === 6");
        js(&c, "document.getElementById('pool-new').click(); true");
        cdp_wait_for(&c, "!document.getElementById('pool-form').hidden");
        g_autofree char *fresh = cdp_eval_str(&c, "document.getElementById('f-provisioning').value + '|' + "
                                                  "document.getElementById('f-suspend_after_disconnect_s').value");
        ck_assert_str_eq(fresh, "linked|");
        js(&c, "{ const v = (k, x) => document.getElementById('f-' + k).value = x;"
               "v('name', 'qa'); v('display_name', 'QA desktops'); v('max_size', '2');"
               "v('ready_size', '5'); v('entitlements', 'group:cn=staff,ou=groups,dc=example,dc=org');"
               "v('provisioning', 'instant'); v('suspend_after_disconnect_s', '-5');"
               "document.getElementById('pool-save').click(); } true");
        cdp_wait_for(&c, "!document.getElementById('e-suspend_after_disconnect_s').hidden");
        g_autofree char *serr = cdp_eval_str(&c, "document.getElementById('e-suspend_after_disconnect_s')"
                                                 ".textContent + '|' + document.activeElement.id");
        ck_assert_str_eq(serr, "Field \"suspend_after_disconnect_s\" must be between 0 and 2592000"
                               "|f-suspend_after_disconnect_s");
        js(&c, "document.getElementById('f-suspend_after_disconnect_s').value = '900';"
               "document.getElementById('pool-save').click(); true");
        cdp_wait_for(&c, "!document.getElementById('e-ready_size').hidden");
        g_autofree char *ferr = cdp_eval_str(&c, "document.getElementById('e-ready_size').textContent"
                                                 " + '|' + document.activeElement.id + '|' + "
                                                 "document.getElementById('f-ready_size')"
                                                 ".getAttribute('aria-invalid')");
        ck_assert_msg(g_str_has_prefix(ferr, "Pool \"qa\": sizes must satisfy") &&
                              g_str_has_suffix(ferr, "|f-ready_size|true"),
                      "%s", ferr);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'qa'"), 0);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-error.png");
        js(&c, "document.getElementById('f-ready_size').value = '1';"
               "document.getElementById('pool-save').click(); true");
        cdp_wait_for(&c, "document.getElementById('pool-form').hidden && "
                         "document.querySelectorAll('#pools-rows tr').length === 7");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools p JOIN pool_entitlements e"
                                     " ON e.pool_id = p.id WHERE p.name = 'qa' AND p.max_size = 2"
                                     " AND p.ready_size = 1 AND p.display_name = 'QA desktops'"),
                         1);
        json_t *qa = get_json(api, "/api/v1/admin/pools/qa");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(qa, "pool"), "provisioning")), "instant");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(qa, "pool"), "suspend_after_disconnect_s")), 900);
        json_decref(qa);
        g_autofree char *qa_kind = cdp_eval_str(&c, "[...document.querySelectorAll('#pools-rows tr')]"
                                                    ".find(r => r.cells[0].textContent.startsWith('qa '))"
                                                    ".cells[1].textContent");
        ck_assert_str_eq(qa_kind, "floating, instant clones, suspends after 15 min without a client");
        /* Its form shows both; back to linked clones that never suspend. */
        edit_pool(&c, "qa");
        g_autofree char *qa_form = cdp_eval_str(&c, "document.getElementById('f-provisioning').value + '|' + "
                                                    "document.getElementById('f-suspend_after_disconnect_s').value");
        ck_assert_str_eq(qa_form, "instant|900");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-instant.png");
        js(&c, "document.getElementById('f-provisioning').value = 'linked';"
               "document.getElementById('f-suspend_after_disconnect_s').value = '';"
               "document.getElementById('pool-save').click(); true");
        cdp_wait_for(&c, "document.getElementById('pool-form').hidden && [...document.querySelectorAll("
                         "'#pools-rows tr')].some(r => r.cells[1].textContent === 'floating, linked clones')");
        qa = get_json(api, "/api/v1/admin/pools/qa");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(qa, "pool"), "provisioning")), "linked");
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(qa, "pool"), "suspend_after_disconnect_s")), 0);
        json_decref(qa);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'qa' AND provisioning = 'linked'"
                                     " AND suspend_after_disconnect_s IS NULL"),
                         1);
        /* Disable it from its row. */
        js(&c, "document.querySelector('button[aria-label=\"Disable pool qa\"]').click(); true");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label=\"Enable pool qa\"]')");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools WHERE name = 'qa' AND NOT enabled"), 1);
        /* Recompose office to a new image version through its form: the
         * list shows the rolling progress (no loop runs here: 0 of 3). */
        bfx_exec(f, "INSERT INTO image_versions (image_id, version, path, state)"
                    " VALUES (1, 2, '/var/lib/vdi/images/deb12-2.qcow2', 'published')");
        edit_pool(&c, "office");
        js(&c, "document.getElementById('f-image_version').value = '2';"
               "document.getElementById('pool-save').click(); true");
        cdp_wait_for(&c, "document.getElementById('pool-form').hidden && "
                         "[...document.querySelectorAll('#pools-rows tr')].some(r => "
                         "r.cells[2].textContent === 'deb12 v2 — recomposing: 0 of 3 desktops "
                         "on it')");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools p JOIN image_versions v ON"
                                     " v.id = p.image_version_id WHERE p.name = 'office' AND"
                                     " v.version = 2 AND p.display_name = 'Office desktop'"
                                     " AND (SELECT count(*) FROM pool_entitlements e WHERE"
                                     " e.pool_id = p.id) = 1"),
                         1);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pools.png");

        /* Images: both versions, and which pools use each. */
        go(&c, "/admin/images");
        cdp_wait_for(&c, "document.querySelectorAll('#images-rows tr').length === 2");
        g_autofree char *imgs = cdp_eval_str(
                &c, "[...document.querySelectorAll('#images-rows tr')].map(r => "
                    "[0,1,2,4,8].map(i => r.cells[i].textContent).join(',')).join('|')");
        ck_assert_str_eq(imgs, "deb12,2,published,vesa,office|"
                               "deb12,1,published,vesa,design, eng, full, lab, off, qa");
        /* Import from a bundle: a manifest with a relative disk path is
         * refused with the API's reason next to the form; a good one
         * makes a new image with its version. */
        g_autofree char *bundle = g_dir_make_tmp("vdi-bundle-XXXXXX", NULL);
        g_autofree char *bad_m = g_build_filename(bundle, "bad-manifest.json", NULL);
        g_autofree char *good_m = g_build_filename(bundle, "manifest.json", NULL);
        ck_assert(g_file_set_contents(bad_m, "{\"version\": 7, \"disk\": \"disk.qcow2\"}", -1,
                                      NULL));
        ck_assert(g_file_set_contents(
                good_m,
                "{\"version\": 2026120702, \"kernel\": \"/srv/b/kernel\", \"initrd\": "
                "\"/srv/b/initrd\", \"disk\": \"/srv/b/disk.qcow2\", \"format\": \"qcow2\", "
                "\"cmdline\": \"root=/dev/vda rw console=ttyS0 quiet\", \"display\": "
                "\"virtio-gpu\"}",
                -1, NULL));
        js(&c, "document.getElementById('i-name').value = 'deb12-desktop'; true");
        pick_file(&c, "i-manifest", bad_m);
        js(&c, "document.getElementById('import-button').click(); true");
        cdp_wait_for(&c, "!document.getElementById('import-error').hidden");
        g_autofree char *imp_err = cdp_eval_str(&c, "document.getElementById('import-error')"
                                                    ".textContent");
        ck_assert_msg(strstr(imp_err, "bad-manifest.json: image version path \"disk.qcow2\" "
                                      "must be absolute"),
                      "%s", imp_err);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-import-error.png");
        pick_file(&c, "i-manifest", good_m);
        js(&c, "document.getElementById('import-button').click(); true");
        cdp_wait_for(&c, "document.querySelectorAll('#images-rows tr').length === 3");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM image_versions v JOIN images i ON"
                                     " i.id = v.image_id WHERE i.name = 'deb12-desktop' AND"
                                     " v.version = 2026120702 AND v.path = '/srv/b/disk.qcow2'"
                                     " AND v.kernel_path = '/srv/b/kernel' AND v.state ="
                                     " 'published' AND v.display = 'virtio-gpu'"),
                         1);
        g_autofree char *gpu_row = cdp_eval_str(
                &c, "[...document.querySelectorAll('#images-rows tr')].filter(r => "
                    "r.cells[0].textContent === 'deb12-desktop').map(r => r.cells[4]"
                    ".textContent).join()");
        ck_assert_str_eq(gpu_row, "virtio-gpu");
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", bundle);
        ck_assert_int_eq(system(rm), 0);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-images.png");

        /* Desktops: search, history, and a reset whose host is down. */
        go(&c, "/admin/desktops");
        cdp_wait_for(&c, "document.querySelectorAll('#desktops-rows tr').length === 8");
        g_autofree char *carol = cdp_eval_str(
                &c, "[...document.querySelectorAll('#desktops-rows tr')].filter(r => "
                    "r.cells[0].textContent === 'office-2').map(r => [3,5,6].map(i => "
                    "r.cells[i].textContent).join(',')).join()");
        ck_assert_str_eq(carol, "in use,carol,192.0.2.7 (rdp)");
        js(&c, "document.getElementById('d-q').value = 'OFFICE';"
               "document.getElementById('d-history').checked = true;"
               "document.querySelector('#desktop-search button').click(); true");
        cdp_wait_for(&c, "document.querySelectorAll('#desktops-rows tr').length === 4");
        g_autofree char *hist = cdp_eval_str(
                &c, "[...document.querySelectorAll('#desktops-rows tr')].map(r => "
                    "r.cells[0].textContent + ':' + r.cells[3].textContent).join(',')");
        ck_assert_str_eq(hist, "office-1:ready,office-2:in use,office-3:ready,office-9:deleted");
        confirm_click(&c, "button[aria-label=\"Reset desktop office-1\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('not reachable')");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave'"
                                     " AND action = 'desktop.reset' AND outcome = 'failed'"
                                     " AND desktop_name = 'office-1' AND host_name = 'h1'"),
                         1);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-desktops.png");

        /* Logins: u1's history, the slow one highlighted. */
        go(&c, "/admin/logins");
        cdp_wait_for(&c, "document.querySelectorAll('#logins-rows tr').length >= 30");
        js(&c, "document.getElementById('l-user').value = 'U1';"
               "document.querySelector('#logins-filter button').click(); true");
        cdp_wait_for(&c, "document.querySelectorAll('#logins-rows tr').length === 10");
        g_autofree char *slow_rows = cdp_eval_str(
                &c, "[...document.querySelectorAll('#logins-rows tr.slow')].map(r => "
                    "[1,2,3].map(i => r.cells[i].textContent).join(',') + ',' + "
                    "r.querySelectorAll('rect').length).join('|')");
        ck_assert_str_eq(slow_rows, "u1,login,1510.7,2");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-logins.png");

        /* Sessions: sign alice out. */
        go(&c, "/admin/sessions");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label^=\"Sign out alice\"]')");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-sessions.png");
        confirm_click(&c, "button[aria-label^=\"Sign out alice\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent === 'Alice signed out.' && "
                         "!document.querySelector('button[aria-label^=\"Sign out alice\"]')");
        struct breply r = bclient_req(alice, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 401);
        breply_free(&r);

        /* The audit log shows each action, filterable. */
        audit_of(&c, "dave");
        g_autofree char *acts = cdp_eval_str(
                &c, "[...document.querySelectorAll('#audit-rows tr')].map(r => "
                    "r.cells[2].textContent + ':' + r.cells[3].textContent)"
                    ".filter(a => !a.startsWith('login:')).reverse().join(',')");
        ck_assert_str_eq(acts, "pool.create:ok,pool.update:ok,pool.update:ok,pool.update:ok,"
                               "image.create:ok,image.version.add:ok,desktop.reset:failed,"
                               "session.end:ok");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-audit.png");
        cdp_stop(&c);
        bclient_free(api);
        bclient_free(alice);
}
END_TEST

/* A route's pattern with 1 for each {parameter}. */
static char *route_path(const struct http_route *rt)
{
        char *path = g_strdup(rt->pattern);
        char *brace;
        while ((brace = strchr(path, '{'))) {
                char *end = strchr(brace, '}');
                g_autofree char *head = g_strndup(path, (gsize)(brace - path));
                char *np = g_strconcat(head, "1", end + 1, NULL);
                g_free(path);
                path = np;
        }
        return path;
}

/* Every admin route of the table answers 403 to alice, with and without
 * the CSRF token; a change without the token is refused even for an
 * admin, and changes nothing. In the browser, alice is offered no console
 * and its pages say she is not an administrator. */
START_TEST(test_console_non_admin)
{
        struct bclient *alice = bclient_new(f);
        struct bclient *admin = bclient_new(f);
        struct cdp c = { 0 };
        bfx_reset(f);
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);
        ck_assert_int_eq(bclient_login(admin, "dave", "dave-pw"), 200);
        for (size_t i = 0; i < api_admin_routes_count; i++) {
                const struct http_route *rt = &api_admin_routes[i];
                g_autofree char *path = route_path(rt);
                bool change = strcmp(rt->method, "GET") != 0;
                const char *body = change && strcmp(rt->method, "DELETE") ? "{}" : NULL;
                for (int csrf = 0; csrf <= change; csrf++) {
                        struct breply r = bclient_req(alice, rt->method, path, body, NULL, csrf);
                        ck_assert_msg(r.status == 403, "%s %s (csrf %d): %ld", rt->method, path,
                                      csrf, r.status);
                        breply_free(&r);
                }
                if (change) {
                        struct breply r = bclient_req(admin, rt->method, path, body, NULL, false);
                        ck_assert_msg(r.status == 403 &&
                                              !strcmp(json_string_value(json_object_get(r.json, "error")),
                                                      "csrf"),
                                      "%s %s without CSRF: %ld", rt->method, path, r.status);
                        breply_free(&r);
                }
        }
        /* Each refused request is in the audit log, and nothing else: one
         * per route, as a change without the CSRF token is refused before
         * the database is asked who sent it. */
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'alice'"
                                     " AND action = 'admin.denied' AND outcome = 'denied'"),
                         (long)api_admin_routes_count);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE action NOT IN"
                                     " ('login', 'admin.denied')"),
                         0);
        /* The console's own files are not for her either, nor for nobody;
         * an admin gets them. */
        struct bclient *anon = bclient_new(f);
        static const char *const files[] = { "/portal/admin.html", "/portal/admin.js" };
        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                struct breply r = bclient_req(alice, "GET", files[i], NULL, NULL, false);
                ck_assert_msg(r.status == 403, "%s: %ld", files[i], r.status);
                breply_free(&r);
                r = bclient_req(anon, "GET", files[i], NULL, NULL, false);
                ck_assert_msg(r.status == 401, "%s: %ld", files[i], r.status);
                breply_free(&r);
                r = bclient_req(admin, "GET", files[i], NULL, NULL, false);
                ck_assert_msg(r.status == 200 && r.body->len > 1000, "%s: %ld", files[i],
                              r.status);
                breply_free(&r);
        }
        bclient_free(anon);
        /* An admin session signed in long ago may read but not change. */
        bfx_exec(f, "UPDATE portal_sessions SET created_at = now() - interval '2 hours'"
                    " WHERE user_name = 'dave'");
        struct breply st = bclient_req(admin, "GET", "/api/v1/admin/pools", NULL, NULL, false);
        ck_assert_int_eq(st.status, 200);
        breply_free(&st);
        st = bclient_req(admin, "POST", "/api/v1/admin/pools/office/refresh", NULL, NULL, true);
        ck_assert_int_eq(st.status, 403);
        ck_assert_str_eq(json_string_value(json_object_get(st.json, "error")), "stale_session");
        ck_assert_msg(strstr(json_string_value(json_object_get(st.json, "message")),
                             "dave signed in 120 minutes ago"),
                      "%s", st.body->str);
        breply_free(&st);
        /* So does every change of the route table, with its CSRF token. */
        for (size_t i = 0; i < api_admin_routes_count; i++) {
                const struct http_route *rt = &api_admin_routes[i];
                if (!strcmp(rt->method, "GET"))
                        continue;
                g_autofree char *path = route_path(rt);
                const char *body = strcmp(rt->method, "DELETE") ? "{}" : NULL;
                struct breply r = bclient_req(admin, rt->method, path, body, NULL, true);
                ck_assert_msg(r.status == 403 &&
                                      !g_strcmp0(json_string_value(json_object_get(r.json, "error")),
                                                 "stale_session"),
                              "%s %s, stale session: %ld %s", rt->method, path, r.status,
                              r.body->str);
                breply_free(&r);
        }
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE pending_action IS NOT NULL"), 0);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE pending_action IS NOT NULL"), 0);

        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        cdp_wait_for(&c, "document.querySelectorAll('#desktop-list .desktop').length === 3");
        json_t *hidden = cdp_eval(&c, "document.getElementById('admin-link').hidden");
        ck_assert(json_is_true(hidden));
        json_decref(hidden);
        static const char *const pages[] = { "/admin",          "/admin/overview", "/admin/pools",
                                             "/admin/desktops", "/admin/images",   "/admin/sessions",
                                             "/admin/logins",   "/admin/audit",    "/admin/nothing" };
        for (size_t i = 0; i < G_N_ELEMENTS(pages); i++) {
                go(&c, pages[i]);
                cdp_wait_for(&c, "document.readyState === 'complete' && "
                                 "document.querySelector('h1').textContent === "
                                 "'Not an administrator'");
                struct breply r = bclient_req(alice, "GET", pages[i], NULL, NULL, false);
                ck_assert_int_eq(r.status, 403);
                breply_free(&r);
        }
        cdp_screenshot(&c, "tests/broker/console-forbidden.png");
        cdp_stop(&c);
        bclient_free(alice);
        bclient_free(admin);
}
END_TEST

/* alice's own desktop: restart and log off from her card where the pool
 * allows them (lab, floating, set to both through the API), audited; a
 * dedicated pool cannot offer log off (it would wipe the user's disk). */
START_TEST(test_user_own_desktop)
{
        struct cdp c = { 0 };
        struct bclient *admin = bclient_new(f);
        bfx_reset(f);
        bfx_exec(f, "UPDATE desktops SET state = 'assigned' WHERE name = 'lab-1';"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name) VALUES (4, 6, 'alice')");
        ck_assert_int_eq(bclient_login(admin, "dave", "dave-pw"), 200);
        struct breply r = bclient_req(admin, "PUT", "/api/v1/admin/pools/design",
                                      "{\"kind\": \"dedicated\", \"image\": \"deb12\", "
                                      "\"max_size\": 5, \"user_actions\": [\"logoff\"]}",
                                      NULL, true);
        ck_assert_int_eq(r.status, 400);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "field")), "user_actions");
        breply_free(&r);
        r = bclient_req(admin, "PUT", "/api/v1/admin/pools/lab",
                        "{\"kind\": \"floating\", \"image\": \"deb12\", \"max_size\": 5, "
                        "\"display_name\": \"Alice's lab\", "
                        "\"user_actions\": [\"restart\", \"logoff\"]}",
                        NULL, true);
        ck_assert_int_eq(r.status, 200);
        breply_free(&r);
        g_autofree char *acts = bfx_str(f, "SELECT string_agg(name || '=' || user_actions::text,"
                                           " ' ' ORDER BY name) FROM pools WHERE name IN"
                                           " ('design', 'lab')");
        ck_assert_str_eq(acts, "design={restart} lab={restart,logoff}");

        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        cdp_wait_for(&c, "document.querySelectorAll('#desktop-list .desktop').length === 3");
        g_autofree char *own = cdp_eval_str(
                &c, "[...document.querySelectorAll('.desktop-own button')]"
                    ".map(b => b.getAttribute('aria-label')).join('|')");
        ck_assert_str_eq(own, "Restart your desktop in Alice's lab|"
                              "Log off your desktop in Alice's lab");
        confirm_click(&c, "button[aria-label=\"Restart your desktop in Alice's lab\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('not reachable')");
        confirm_click(&c, "button[aria-label=\"Log off your desktop in Alice's lab\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent.startsWith('You are "
                         "logged off')");
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE name = 'lab-1'"
                                     " AND pending_action = 'refresh'"),
                         1);
        g_autofree char *audit = bfx_str(f, "SELECT string_agg(action || ':' || outcome || ':' ||"
                                            " desktop_name, ',' ORDER BY id) FROM audit_events"
                                            " WHERE actor = 'alice' AND action LIKE 'desktop.%%'");
        ck_assert_str_eq(audit, "desktop.user_restart:failed:lab-1,desktop.user_logoff:ok:lab-1");
        /* Her sessions: this browser and a second one, which she signs
         * out; her desktop connection. */
        struct bclient *alice = bclient_new(f);
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);
        bfx_exec(f, "INSERT INTO desktop_sessions (desktop_id, user_name, protocol, client_addr)"
                    " VALUES (6, 'alice', 'spice', '198.51.100.4')");
        js(&c, "loadSessions(); true");
        cdp_wait_for(&c, "document.querySelectorAll('#portal-sessions li').length === 2 && "
                         "document.querySelectorAll('#desktop-sessions li').length === 1");
        g_autofree char *conn = cdp_eval_str(&c, "document.querySelector('#desktop-sessions li')"
                                                 ".textContent");
        ck_assert_msg(g_str_has_prefix(conn, "Alice's lab (lab-1) over SPICE from 198.51.100.4 "
                                             "since "),
                      "%s", conn);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-user-desktop.png");
        confirm_click(&c, "#portal-sessions button");
        cdp_wait_for(&c, "document.getElementById('status').textContent === "
                         "'That browser is signed out.' && "
                         "document.querySelectorAll('#portal-sessions li').length === 1");
        r = bclient_req(alice, "GET", "/api/v1/me", NULL, NULL, false);
        ck_assert_int_eq(r.status, 401);
        breply_free(&r);
        /* Nobody else's session can be ended this way. */
        long dave_session = bfx_long(f, "SELECT id FROM portal_sessions WHERE user_name = 'dave'");
        g_autofree char *other = g_strdup_printf("(async () => { try { await api('DELETE', "
                                                 "'/me/sessions/%ld'); return 'ended'; } catch (e) "
                                                 "{ return e.status + ' ' + e.code; } })()",
                                                 dave_session);
        g_autofree char *refused = cdp_eval_str(&c, other);
        ck_assert_str_eq(refused, "404 unknown_session");
        /* Without the CSRF token nothing happens. */
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);
        r = bclient_req(alice, "POST", "/api/v1/desktops/lab/restart", NULL, NULL, false);
        ck_assert_int_eq(r.status, 403);
        breply_free(&r);
        /* Not hers: no desktop in office. */
        r = bclient_req(alice, "POST", "/api/v1/desktops/office/logoff", NULL, NULL, true);
        ck_assert_int_eq(r.status, 404);
        breply_free(&r);
        bclient_free(alice);
        cdp_stop(&c);
        bclient_free(admin);
}
END_TEST


/* A line count of a file in the hollow VM's directory (0 when absent). */
static long vm_file_lines(const struct hostd_proc *hp, const char *vm, const char *name,
                          const char *needle)
{
        g_autofree char *path = g_build_filename(hp->state_dir, "vms", vm, name, NULL);
        g_autofree char *text = NULL;
        long n = 0;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return 0;
        for (char *l = text; (l = strstr(l, needle)); l++)
                n++;
        return n;
}

/* vdi-hostd with the hollow VM as h1 (it heartbeats into the database),
 * and in its directory a kernel and two disks for image versions:
 * vmlinuz, base.qcow2 and base2.qcow2. */
static void hostd_h1(struct hostd_proc *hp)
{
        const char *top = getenv("abs_top_builddir");
        *hp = (struct hostd_proc){ .pki = f->pki, .name = "h1", .conninfo = f->pg->conninfo,
                                   .port_min = 30000 + (int)(getpid() % 20000) };
        hp->vm_binary = g_strdup_printf("%s/tests/hostd/hollow-vm", top && *top ? top : ".");
        hostd_running = hp;
        ck_assert_int_eq(hostd_proc_start(hp), 0);
        g_autofree char *mk = g_strdup_printf("cd %s && head -c 4096 /dev/urandom > vmlinuz && "
                                              "qemu-img create -q -f qcow2 base.qcow2 32M && "
                                              "qemu-img create -q -f qcow2 base2.qcow2 32M",
                                              hp->dir);
        ck_assert_int_eq(system(mk), 0);
}

/* vdi-hostd with the hollow VM as h1, running lab-1 (desktop id 6). */
static void hostd_with_lab_vm(struct hostd_proc *hp)
{
        struct hostd_reply r;
        hostd_h1(hp);
        g_autofree char *img = g_strdup_printf("{\"version\": 1, \"kernel\": \"%s/vmlinuz\", "
                                               "\"disk\": \"%s/base.qcow2\"}", hp->dir, hp->dir);
        ck_assert_int_eq(hostd_req(hp, "PUT", "/api/v1/images/deb12", img, CERT_CLIENT, &r), 0);
        ck_assert_msg(r.status == 201, "image: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        hostd_req(hp, "PUT", "/api/v1/vms/6", "{\"image\": \"deb12\", \"memory_mb\": 128}",
                  CERT_CLIENT, &r);
        ck_assert_msg(r.status == 201, "vm: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        hostd_req(hp, "POST", "/api/v1/vms/6/start", NULL, CERT_CLIENT, &r);
        ck_assert_msg(r.status == 200, "start: %ld %s", r.status, r.raw);
        hostd_reply_clear(&r);
        ck_assert(hostd_wait_state(hp, "6", "running", 30000));
        bfx_exec(f, "UPDATE hosts SET port = %d, last_heartbeat = now() WHERE name = 'h1'",
                 hp->port);
}

/* A display client "logs in" to the hollow VM (its test-only command on
 * the control socket, which hostd also holds): the VM tells hostd, which
 * records the session in PostgreSQL as for a real vdi-vm. */
static void hollow_client_connects(const struct hostd_proc *hp, const char *vm)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_autofree char *path = g_strdup_printf("%s/run/%s.sock", hp->dir, vm);
        static const char req[] = "{\"id\":1,\"cmd\":\"hollow-connect\",\"protocol\":\"rdp\","
                                  "\"user\":\"alice\",\"address\":\"198.51.100.9\"}\n";
        char buf[4096] = "";
        size_t got = 0;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
        /* "booted", our own "client-connected", then the answer. */
        while (got < sizeof(buf) - 1 && !strstr(buf, "\"id\":1")) {
                ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
                ck_assert_int_gt(n, 0);
                got += (size_t)n;
                buf[got] = 0;
        }
        close(fd);
}

/* Poll the count query (printf-style; 30 s at most) until it gives want. */
static void G_GNUC_PRINTF(2, 3) wait_rows(long want, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *sql = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        for (int i = 0; i < 300 && bfx_long(f, "%s", sql) != want; i++)
                g_usleep(100000);
        ck_assert_msg(bfx_long(f, "%s", sql) == want, "%s: not %ld", sql, want);
}

/* The pixel (x, y) of a canvas as "r,g,b". */
static char *canvas_px(struct cdp *c, const char *id, int x, int y)
{
        g_autofree char *code = g_strdup_printf(
                "Array.from(document.getElementById('%s').getContext('2d')"
                ".getImageData(%d, %d, 1, 1).data.slice(0, 3)).join(',')",
                id, x, y);
        return cdp_eval_str(c, code);
}

START_TEST(test_console_live_desktop)
{
        struct cdp c = { 0 };
        static struct hostd_proc hp; /* after_test stops it */
        bfx_reset(f);
        bfx_exec(f, "UPDATE desktops SET state = 'assigned' WHERE name = 'lab-1';"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name) VALUES (4, 6, 'alice');"
                    "UPDATE pools SET user_actions = '{restart}' WHERE name = 'lab'");
        hostd_with_lab_vm(&hp);
        admin_browser(&c);

        /* dave looks at lab-1's screen: the thumbnail has the hollow VM's
         * blue desktop and its orange window in the lower right quarter. */
        sign_in(&c, "dave", "dave-pw");
        go(&c, "/admin/desktops");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label=\"Show the screen of "
                         "desktop lab-1\"]')");
        js(&c, "document.querySelector('button[aria-label=\"Show the screen of desktop "
               "lab-1\"]').click(); true");
        cdp_wait_for(&c, "!document.getElementById('screen-canvas').hidden");
        g_autofree char *size = cdp_eval_str(&c, "(() => { const e = document.getElementById("
                                                 "'screen-canvas'); return e.width + 'x' + "
                                                 "e.height; })()");
        ck_assert_str_eq(size, "480x360");
        g_autofree char *blue = canvas_px(&c, "screen-canvas", 100, 60);
        g_autofree char *orange = canvas_px(&c, "screen-canvas", 400, 300);
        g_autofree char *edge = canvas_px(&c, "screen-canvas", 230, 300);
        ck_assert_str_eq(blue, "30,80,160");
        ck_assert_str_eq(orange, "240,140,20");
        ck_assert_str_eq(edge, "30,80,160");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-screen.png");
        js(&c, "document.getElementById('screen-close').click(); true");
        ck_assert_int_ge(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave'"
                                     " AND action = 'desktop.screenshot' AND outcome = 'ok'"
                                     " AND desktop_name = 'lab-1' AND host_name = 'h1'"),
                         1);
        /* office-1 is on h1 too, but h1 runs no VM for it: refused and
         * audited as failed. */
        struct bclient *admin = bclient_new(f);
        ck_assert_int_eq(bclient_login(admin, "dave", "dave-pw"), 200);
        struct breply r = bclient_req(admin, "POST", "/api/v1/admin/desktops/1/screenshot", NULL,
                                      NULL, true);
        ck_assert_int_eq(r.status, 404);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "unknown_vm");
        breply_free(&r);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave'"
                                     " AND action = 'desktop.screenshot' AND outcome = 'failed'"
                                     " AND desktop_name = 'office-1'"),
                         1);
        bclient_free(admin);

        /* alice's RDP client is connected (hostd recorded it): dave
         * disconnects her; the desktop keeps running, assigned to her. */
        hollow_client_connects(&hp, "6");
        const char *open_session = "SELECT count(*) FROM desktop_sessions s JOIN desktops d ON"
                                   " d.id = s.desktop_id WHERE d.name = 'lab-1' AND"
                                   " s.disconnected_at IS NULL AND s.user_name = 'alice' AND"
                                   " host(s.client_addr) = '198.51.100.9' AND d.state = 'in_use'";
        wait_rows(1, "%s", open_session);
        js(&c, "loadDesktops(); true");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label=\"Disconnect alice from "
                         "desktop lab-1\"]')");
        g_autofree char *from = cdp_eval_str(&c, "[...document.querySelectorAll('#desktops-rows "
                                                 "tr')].find(r => r.cells[0].textContent === "
                                                 "'lab-1').cells[6].textContent");
        ck_assert_str_eq(from, "198.51.100.9 (rdp)");
        cdp_screenshot(&c, "tests/broker/console-disconnect.png");
        confirm_click(&c, "button[aria-label=\"Disconnect alice from desktop lab-1\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent === 'Alice disconnected "
                         "from lab-1; the desktop keeps running.'");
        const char *closed = "SELECT count(*) FROM desktop_sessions s JOIN desktops d ON"
                             " d.id = s.desktop_id WHERE d.name = 'lab-1' AND"
                             " s.disconnected_at IS NOT NULL AND d.state = 'assigned'";
        wait_rows(1, "%s", closed);
        ck_assert(hostd_wait_state(&hp, "6", "running", 1000));
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave'"
                                     " AND action = 'desktop.disconnect' AND outcome = 'ok'"
                                     " AND desktop_name = 'lab-1' AND host_name = 'h1'"),
                         1);

        /* alice restarts her desktop from her card: the VM is reset. */
        cdp_stop(&c);
        cdp_start(&c, chromium);
        sign_in(&c, "alice", "alice-pw");
        cdp_wait_for(&c, "document.querySelectorAll('#desktop-list .desktop').length === 3");
        ck_assert_int_eq(vm_file_lines(&hp, "6", "resets.log", "reset"), 0);
        confirm_click(&c, "button[aria-label=\"Restart your desktop in Alice's lab\"]");
        cdp_wait_for(&c, "document.getElementById('status').textContent.includes('is restarting')");
        ck_assert_int_eq(vm_file_lines(&hp, "6", "resets.log", "reset"), 1);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'alice'"
                                     " AND action = 'desktop.user_restart' AND outcome = 'ok'"
                                     " AND desktop_name = 'lab-1'"),
                         1);
        /* ...and connects to it again: the VM gets a ticket for her. */
        js(&c, "document.querySelector('button[data-protocol=\"rdp\"][aria-label$=\"Alice\\'s "
               "lab\"]').click(); true");
        cdp_wait_for(&c, "document.getElementById('status').textContent.startsWith("
                         "'Connection file for')");
        ck_assert_int_eq(vm_file_lines(&hp, "6", "tickets.log", " alice "), 1);
        cdp_wait_for(&c, "document.querySelector('[data-state=\"waiting\"] .desktop-state')"
                         ".textContent === 'Waiting for your client to connect…'");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-user-restart.png");
        /* Her client logs in: the card follows (hostd's report, polled). */
        hollow_client_connects(&hp, "6");
        cdp_wait_for(&c, "[...document.querySelectorAll('#desktop-list .desktop')].some(d => "
                         "d.textContent.includes(\"Alice's lab\") && d.querySelector("
                         "'.desktop-state').textContent === 'In use by you')");
        cdp_stop(&c);
}
END_TEST

/* The text of a cell of the row whose first cell starts with name, in
 * the table body rows (a CSS selector), as JS. */
static char *cell_js(const char *rows, const char *name, int cell)
{
        return g_strdup_printf("([...document.querySelectorAll('%s tr')].find(r => "
                               "r.cells[0].textContent.split(' ')[0] === '%s') || "
                               "{ cells: [] }).cells[%d]?.textContent",
                               rows, name, cell);
}

/* Every desktop of pool qa, "name:state:version" by id. */
static char *qa_desktops(void)
{
        return bfx_str(f, "SELECT string_agg(d.name || ':' || d.state || ':v' || v.version, ','"
                          " ORDER BY d.id) FROM desktops d JOIN pools p ON p.id = d.pool_id"
                          " JOIN image_versions v ON v.id = d.image_version_id"
                          " WHERE p.name = 'qa'");
}

/* VM id runs on h1 from image version (of deb12): the pool loop named
 * its image on the host "iv-<version id>". */
static void vm_runs_version(const struct hostd_proc *hp, const char *id, int version)
{
        g_autofree char *path = g_strdup_printf("/api/v1/vms/%s", id);
        g_autofree char *want = g_strdup_printf(
                "iv-%ld", bfx_long(f, "SELECT id FROM image_versions WHERE version = %d", version));
        struct hostd_reply hr;
        ck_assert_int_eq(hostd_req(hp, "GET", path, NULL, CERT_CLIENT, &hr), 0);
        ck_assert_msg(hr.status == 200 &&
                              !g_strcmp0(json_string_value(json_object_get(hr.json, "image")),
                                         want) &&
                              !g_strcmp0(json_string_value(json_object_get(hr.json, "state")),
                                         "running"),
                      "%s: %ld %s (want %s)", path, hr.status, hr.raw, want);
        hostd_reply_clear(&hr);
}

/* The whole life of a pool against the real stack: vdi-brokerd with its
 * pool loop and vdi-hostd running hollow VMs. dave creates pool qa
 * through the form (one error shown and fixed) and watches the overview
 * as the loop fills it to its ready size (the counts the API and the
 * database give), recomposes it to a new image version through the form
 * and watches the pools list follow the rolling recompose to "2 of 2",
 * disconnects alice from the desktop she launched, and recomposes the
 * pool to version 3 "now" (her desktop too, kept hers). The audit log
 * shows each action. */
START_TEST(test_console_pool_lifecycle)
{
        double start = (double)g_get_monotonic_time() / 1e6;
        struct cdp c = { 0 };
        static struct hostd_proc hp; /* after_test stops it */
        static struct bfx_daemon d;
        bfx_reset(f);
        hostd_h1(&hp);
        /* Only what the admin makes: no pools, one host (this vdi-hostd). */
        bfx_exec(f, "TRUNCATE pools, desktops CASCADE; DELETE FROM hosts WHERE name = 'h2';"
                    "UPDATE image_versions SET path = '%1$s/base.qcow2',"
                    " kernel_path = '%1$s/vmlinuz'",
                 hp.dir);
        brokerd_running = &d;
        bfx_daemon_start(f, "[pools]\ninterval_ms = 500\n", &d);
        base = d.view.base;
        struct bclient *api = bclient_new(&d.view);
        ck_assert_int_eq(bclient_login(api, BFX_LOCAL_ADMIN, BFX_LOCAL_ADMIN_PW), 200);
        admin_browser(&c);
        sign_in(&c, "dave", "dave-pw");

        /* The form: ready above max is refused next to its field; fixed. */
        go(&c, "/admin/pools");
        cdp_wait_for(&c, "!!document.getElementById('pool-new') && "
                         "document.getElementById('f-image').options.length === 1");
        js(&c, "document.getElementById('pool-new').click(); true");
        cdp_wait_for(&c, "!document.getElementById('pool-form').hidden");
        js(&c, "{ const v = (k, x) => document.getElementById('f-' + k).value = x;"
               "v('name', 'qa'); v('display_name', 'QA desktops'); v('max_size', '3');"
               "v('ready_size', '4'); v('vcpus', '1'); v('memory_mb', '256');"
               "v('entitlements', 'user:alice');"
               "document.getElementById('pool-save').click(); } true");
        cdp_wait_for(&c, "!document.getElementById('e-ready_size').hidden");
        g_autofree char *ferr = cdp_eval_str(&c, "document.getElementById('e-ready_size')"
                                                 ".textContent");
        ck_assert_msg(g_str_has_prefix(ferr, "Pool \"qa\": sizes must satisfy"), "%s", ferr);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM pools"), 0);
        js(&c, "document.getElementById('f-ready_size').value = '2';"
               "document.getElementById('pool-save').click(); true");
        cdp_wait_for(&c, "document.getElementById('pool-form').hidden && "
                         "document.querySelectorAll('#pools-rows tr').length === 1");

        /* The overview follows the loop until qa has its two ready
         * desktops (hollow VMs booted on h1): as the API and the database
         * count them. */
        double t0 = (double)g_get_monotonic_time() / 1e6;
        go(&c, "/admin/overview");
        g_autofree char *ready = cell_js("#pools-ov-rows", "qa", 2);
        g_autofree char *prov = cell_js("#pools-ov-rows", "qa", 5);
        g_autofree char *filled = g_strdup_printf("%s === '2' && %s === '0'", ready, prov);
        cdp_wait_for_ms(&c, filled, 60000);
        printf("# the overview showed qa filled %.1f s after it was saved\n",
               (double)g_get_monotonic_time() / 1e6 - t0);
        g_autofree char *row = cdp_eval_str(
                &c, "[...document.querySelector('#pools-ov-rows tr').cells].slice(0, 7)"
                    ".map(c => c.textContent).join(',')");
        ck_assert_str_eq(row, "qa,2 / 3,2,0,0,0,0");
        json_t *ov = get_json(api, "/api/v1/admin/overview");
        json_t *qa = json_array_get(json_object_get(ov, "pools"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(qa, "name")), "qa");
        ck_assert_int_eq(json_integer_value(json_object_get(qa, "size")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(qa, "ready")), 2);
        /* The sign-ins per minute are the real ones (root-admin's, dave's),
         * and the chart draws them. */
        long signins = 0;
        size_t k;
        json_t *m;
        json_array_foreach (json_object_get(ov, "per_minute"), k, m)
                signins += (long)json_integer_value(json_object_get(m, "logins"));
        ck_assert_int_eq(signins, bfx_long(f, "SELECT count(*) FROM audit_events WHERE"
                                              " action = 'login' AND outcome = 'ok'"));
        ck_assert_int_eq(signins, 2);
        json_decref(ov);
        cdp_wait_for(&c, "[...document.querySelectorAll('#perminute-chart .bar-logins')]"
                         ".some(b => b.getAttribute('height') > 0)");
        g_autofree char *made = qa_desktops();
        ck_assert_msg(g_regex_match_simple("^qa-[0-9]+:ready:v1,qa-[0-9]+:ready:v1$", made, 0, 0),
                      "%s", made);
        g_autofree char *ids = bfx_str(f, "SELECT string_agg(d.id::text, ',' ORDER BY d.id)"
                                          " FROM desktops d JOIN pools p ON p.id = d.pool_id"
                                          " WHERE p.name = 'qa'");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-filled.png");

        /* A new image version: dave recomposes qa to it through the form;
         * the list goes from "recomposing" to all desktops on it. */
        bfx_exec(f, "INSERT INTO image_versions (image_id, version, path, kernel_path, state)"
                    " VALUES (1, 2, '%1$s/base2.qcow2', '%1$s/vmlinuz', 'published')",
                 hp.dir);
        go(&c, "/admin/pools");
        g_autofree char *image = cell_js("#pools-rows", "qa", 2);
        g_autofree char *on_v1 = g_strdup_printf("%s === 'deb12 v1 — 2 of 2 desktops on it'",
                                                 image);
        cdp_wait_for(&c, on_v1);
        /* Every text the image cell shows from now on. */
        g_autofree char *watch = g_strdup_printf(
                "window.seen = []; new MutationObserver(() => { const t = %s; "
                "if (t && t !== seen[seen.length - 1]) seen.push(t); }).observe("
                "document.getElementById('pools-rows'), { childList: true, subtree: true }); true",
                image);
        js(&c, watch);
        edit_pool(&c, "qa");
        js(&c, "document.getElementById('f-image_version').value = '2';"
               "document.getElementById('pool-save').click(); true");
        t0 = (double)g_get_monotonic_time() / 1e6;
        g_autofree char *on_v2 = g_strdup_printf("%s === 'deb12 v2 — 2 of 2 desktops on it'",
                                                 image);
        cdp_wait_for_ms(&c, on_v2, 60000);
        g_autofree char *seen = cdp_eval_str(&c, "seen.join('|')");
        printf("# the pools list during the recompose (%.1f s): %s\n",
               (double)g_get_monotonic_time() / 1e6 - t0, seen);
        ck_assert_msg(g_str_has_prefix(seen, "deb12 v2 — recomposing: ") &&
                              g_str_has_suffix(seen, "|deb12 v2 — 2 of 2 desktops on it"),
                      "%s", seen);
        g_autofree char *recomposed = qa_desktops();
        ck_assert_msg(g_regex_match_simple("^qa-[0-9]+:ready:v2,qa-[0-9]+:ready:v2$", recomposed,
                                           0, 0),
                      "%s", recomposed);
        /* The same desktops, rebuilt: on h1 each VM runs the new version. */
        g_autofree char *ids_now = bfx_str(f, "SELECT string_agg(d.id::text, ',' ORDER BY d.id)"
                                              " FROM desktops d JOIN pools p ON p.id = d.pool_id"
                                              " WHERE p.name = 'qa'");
        ck_assert_str_eq(ids_now, ids);
        g_auto(GStrv) vms = g_strsplit(ids, ",", -1);
        for (char **id = vms; *id; id++)
                vm_runs_version(&hp, *id, 2);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-recomposed.png");

        /* alice launches a desktop of qa and her client connects; dave
         * disconnects her from the desktops page. */
        struct bclient *alice = bclient_new(&d.view);
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);
        struct breply r = bclient_req(alice, "POST", "/api/v1/launch",
                                      "{\"pool\": \"qa\", \"protocol\": \"rdp\"}", NULL, true);
        ck_assert_msg(r.status == 200, "launch: %ld %s", r.status, r.body->str);
        breply_free(&r);
        bclient_free(alice);
        g_autofree char *vm = bfx_str(f, "SELECT desktop_id FROM assignments WHERE"
                                         " user_name = 'alice' AND released_at IS NULL");
        g_autofree char *desk = bfx_str(f, "SELECT name FROM desktops WHERE id = %s", vm);
        hollow_client_connects(&hp, vm);
        wait_rows(1, "SELECT count(*) FROM desktop_sessions WHERE desktop_id = %s AND"
                     " disconnected_at IS NULL AND user_name = 'alice'",
                  vm);
        go(&c, "/admin/desktops");
        g_autofree char *disc_sel = g_strdup_printf("button[aria-label=\"Disconnect alice from "
                                                    "desktop %s\"]",
                                                    desk);
        g_autofree char *has_disc = g_strdup_printf("!!document.querySelector('%s')", disc_sel);
        cdp_wait_for(&c, has_disc);
        confirm_click(&c, disc_sel);
        g_autofree char *said = g_strdup_printf("document.getElementById('status').textContent ==="
                                                " 'Alice disconnected from %s; the desktop keeps"
                                                " running.'",
                                                desk);
        cdp_wait_for(&c, said);
        wait_rows(1, "SELECT count(*) FROM desktop_sessions WHERE desktop_id = %s AND"
                     " disconnected_at IS NOT NULL",
                  vm);
        ck_assert(hostd_wait_state(&hp, vm, "running", 1000));

        /* Version 3, recomposed now: alice's desktop too (rolling would
         * wait for her); it stays hers, rebuilt on version 3. */
        bfx_exec(f, "INSERT INTO image_versions (image_id, version, path, kernel_path, state)"
                    " VALUES (1, 3, '%1$s/base.qcow2', '%1$s/vmlinuz', 'published')",
                 hp.dir);
        long size = bfx_long(f, "SELECT count(*) FROM desktops d JOIN pools p ON p.id ="
                                " d.pool_id WHERE p.name = 'qa'");
        ck_assert_int_eq(size, 3);
        go(&c, "/admin/pools");
        edit_pool(&c, "qa");
        js(&c, "document.getElementById('f-image_version').value = '3';"
               "document.getElementById('f-recompose').value = 'now'; true");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-recompose-now.png");
        js(&c, "document.getElementById('pool-save').click(); true");
        g_autofree char *on_v3 = g_strdup_printf("%s === 'deb12 v3 — 3 of 3 desktops on it'",
                                                 image);
        cdp_wait_for_ms(&c, on_v3, 60000);
        g_autofree char *on3 = bfx_str(f, "SELECT string_agg(CASE WHEN d.id = %s THEN"
                                          " 'hers:' ELSE '' END || d.state || ':v' || v.version,"
                                          " ',' ORDER BY d.state, d.id) FROM desktops d JOIN"
                                          " pools p ON p.id = d.pool_id JOIN image_versions v ON"
                                          " v.id = d.image_version_id WHERE p.name = 'qa'",
                                       vm);
        ck_assert_str_eq(on3, "hers:assigned:v3,ready:v3,ready:v3");
        vm_runs_version(&hp, vm, 3);

        /* Each of dave's actions in the audit log. */
        audit_of(&c, "dave");
        g_autofree char *acts = cdp_eval_str(
                &c, "[...document.querySelectorAll('#audit-rows tr')].map(r => "
                    "r.cells[2].textContent + ':' + r.cells[3].textContent + ':' + "
                    "(r.cells[5].textContent || r.cells[4].textContent)).filter(a => !a.startsWith('login:')).reverse()"
                    ".join(',')");
        g_autofree char *want = g_strdup_printf("pool.create:ok:qa,pool.update:ok:qa,"
                                                "desktop.disconnect:ok:%s,pool.update:ok:qa,"
                                                "pool.refresh:ok:qa",
                                                desk);
        ck_assert_str_eq(acts, want);
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-pool-audit.png");

        cdp_stop(&c);
        bclient_free(api);
        printf("# the pool's life took %.1f s\n", (double)g_get_monotonic_time() / 1e6 - start);
}
END_TEST

static void after_test(void)
{
        base = NULL;
        if (brokerd_running)
                bfx_daemon_stop(brokerd_running);
        brokerd_running = NULL;
        if (hostd_running) {
                hostd_proc_destroy(hostd_running);
                g_free(hostd_running->vm_binary);
        }
        hostd_running = NULL;
}

/* Suspend and resume from the admin API (issue 20) against a real
 * vdi-hostd with the hollow VM: dave suspends alice's running desktop
 * (the host reports it, and it is 'suspended' in the database and in the
 * console, not 'stopped'), alice's next launch resumes it from its saved
 * state (back to 'assigned'), and dave's resume does the same; each
 * action audited. */
START_TEST(test_admin_suspend_resume)
{
        static struct hostd_proc hp; /* after_test stops it */
        bfx_reset(f);
        bfx_exec(f, "UPDATE desktops SET state = 'assigned' WHERE name = 'lab-1';"
                    "INSERT INTO assignments (pool_id, desktop_id, user_name) VALUES (4, 6, 'alice')");
        hostd_with_lab_vm(&hp);
        struct bclient *admin = bclient_new(f), *alice = bclient_new(f);
        ck_assert_int_eq(bclient_login(admin, "dave", "dave-pw"), 200);
        ck_assert_int_eq(bclient_login(alice, "alice", "alice-pw"), 200);

        /* Its host must hold the control connection a suspend goes through. */
        bool control = false;
        for (int i = 0; i < 100 && !control; i++) {
                struct hostd_reply v;
                hostd_req(&hp, "GET", "/api/v1/vms/6", NULL, CERT_CLIENT, &v);
                control = json_is_true(json_object_get(v.json, "control"));
                hostd_reply_clear(&v);
                if (!control)
                        g_usleep(100000);
        }
        ck_assert(control);
        struct breply r = bclient_req(admin, "POST", "/api/v1/admin/desktops/6/suspend", NULL, NULL, true);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body->str);
        breply_free(&r);
        ck_assert(hostd_wait_state(&hp, "6", "suspended", 100));
        for (int i = 0; i < 100 && bfx_long(f, "SELECT count(*) FROM desktops WHERE id = 6 AND state = 'suspended'") == 0; i++)
                g_usleep(100000);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE id = 6 AND state = 'suspended'"), 1);
        json_t *listed = get_json(admin, "/api/v1/admin/desktops?state=suspended");
        ck_assert_int_eq(json_array_size(json_object_get(listed, "desktops")), 1);
        json_decref(listed);
        /* Her portal card says so too. */
        listed = get_json(alice, "/api/v1/desktops");
        size_t di;
        json_t *card, *lab = NULL;
        json_array_foreach (json_object_get(listed, "desktops"), di, card)
                if (!g_strcmp0(json_string_value(json_object_get(card, "name")), "lab"))
                        lab = card;
        ck_assert_ptr_nonnull(lab);
        ck_assert_str_eq(json_string_value(json_object_get(lab, "state")), "suspended");
        json_decref(listed);

        /* alice comes back: her launch resumes the desktop where it stood. */
        r = bclient_req(alice, "POST", "/api/v1/launch", "{\"pool\":\"lab\",\"protocol\":\"rdp\"}", NULL,
                        true);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body->str);
        breply_free(&r);
        ck_assert(hostd_wait_state(&hp, "6", "running", 100));
        ck_assert_int_eq(vm_file_lines(&hp, "6", "restores.log", "restored "), 1);
        ck_assert_int_eq(vm_file_lines(&hp, "6", "tickets.log", " alice "), 1);
        for (int i = 0; i < 100 && bfx_long(f, "SELECT count(*) FROM desktops WHERE id = 6 AND state = 'assigned'") == 0; i++)
                g_usleep(100000);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM desktops WHERE id = 6 AND state = 'assigned'"), 1);

        /* dave suspends and resumes it again from the Desktops page; a
         * user may not. */
        r = bclient_req(alice, "POST", "/api/v1/admin/desktops/6/suspend", NULL, NULL, true);
        ck_assert_int_eq(r.status, 403);
        breply_free(&r);
        struct cdp c = { 0 };
        admin_browser(&c);
        sign_in(&c, "dave", "dave-pw");
        go(&c, "/admin/desktops");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label=\"Suspend desktop lab-1\"]')");
        confirm_click(&c, "button[aria-label=\"Suspend desktop lab-1\"]");
        ck_assert(hostd_wait_state(&hp, "6", "suspended", 30000));
        go(&c, "/admin/desktops");
        cdp_wait_for(&c, "!!document.querySelector('button[aria-label=\"Start or resume desktop lab-1\"]')");
        g_autofree char *badge = cdp_eval_str(&c, "[...document.querySelectorAll('#desktops-rows tr')]"
                                                  ".find(r => r.cells[0].textContent === 'lab-1')"
                                                  ".querySelector('.badge').className + '|' + document"
                                                  ".querySelector('button[aria-label=\"Start or resume "
                                                  "desktop lab-1\"]').textContent");
        ck_assert_str_eq(badge, "badge suspended|Resume");
        check_page(&c);
        cdp_screenshot(&c, "tests/broker/console-suspended.png");
        js(&c, "document.querySelector('button[aria-label=\"Start or resume desktop lab-1\"]').click(); true");
        ck_assert(hostd_wait_state(&hp, "6", "running", 30000));
        cdp_stop(&c);
        for (int i = 0; i < 100 && vm_file_lines(&hp, "6", "restores.log", "restored ") < 2; i++)
                g_usleep(100000);
        ck_assert_int_eq(vm_file_lines(&hp, "6", "restores.log", "restored "), 2);
        ck_assert_int_eq(bfx_long(f, "SELECT count(*) FROM audit_events WHERE actor = 'dave' AND outcome = 'ok'"
                                     " AND desktop_name = 'lab-1' AND action IN ('desktop.suspend', 'desktop.resume')"),
                         3);
        bclient_free(alice);
        bclient_free(admin);
}
END_TEST

static void setup(void)
{
        f = bfx_start("name = Example desktops\nlogo = logo.svg\n"
                      "help_url = https://help.example.org/vdi\n");
}

static void teardown(void)
{
        bfx_stop(f);
}

static Suite *make_suite(void)
{
        Suite *s = suite_create("broker-console");
        TCase *tc = tcase_create("chromium");
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_checked_fixture(tc, NULL, after_test);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_console_admin);
        tcase_add_test(tc, test_console_non_admin);
        tcase_add_test(tc, test_user_own_desktop);
        tcase_add_test(tc, test_console_live_desktop);
        tcase_add_test(tc, test_console_pool_lifecycle);
        tcase_add_test(tc, test_admin_suspend_resume);
        suite_add_tcase(s, tc);
        return s;
}

__attribute__((constructor)) static void need_chromium(void)
{
        chromium = cdp_require_chromium();
}
