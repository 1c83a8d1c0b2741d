/* Throwaway real servers for tests: a PostgreSQL cluster and an OpenLDAP
 * slapd, each in its own temporary directory on free loopback ports.
 *
 * The C functions wrap the shell scripts next to this file (pg-start,
 * pg-stop, slapd-start, slapd-stop), which the demo uses too. Every server
 * started here also gets a watchdog that stops it when the process that
 * started it exits, so a crashed or killed test never leaves one behind.
 *
 * Use from Check as an *unchecked* fixture (runs in the parent process,
 * once per TCase) so the server outlives the forked test cases. */
#pragma once

struct harness_pg {
        char *dir;        /* temporary directory (data, socket, log) */
        char *host;       /* "127.0.0.1" */
        int port;         /* TCP port on loopback */
        char *socket_dir; /* Unix socket directory */
        char *user;       /* superuser role, "vdi" */
        char *password;   /* its password (for TCP connections) */
        char *dbname;     /* database "vdi", owned by user */
        char *conninfo;   /* libpq keyword/value string for TCP */
};

/* Start a fresh cluster. Returns 0 and *out, or -errno with the reason
 * printed on stderr. */
int harness_pg_start(struct harness_pg **out);

/* Stop the server (fast shutdown) and start it again on the same port and
 * data; for reconnect tests. 0 or -errno. */
int harness_pg_restart(struct harness_pg *pg);

/* Stop the server without restarting it (until harness_pg_restart). */
int harness_pg_pause(struct harness_pg *pg);

/* Stop the server and delete its directory. Accepts NULL. */
void harness_pg_stop(struct harness_pg *pg);

struct harness_ldap {
        char *dir;        /* temporary directory (config, db, certs, log) */
        int port;         /* ldap:// port (StartTLS available) */
        int tls_port;     /* ldaps:// port */
        char *ldap_uri;   /* "ldap://127.0.0.1:PORT" */
        char *ldaps_uri;  /* "ldaps://127.0.0.1:TLSPORT" */
        char *ca_file;    /* test CA certificate (PEM) that signed the server's */
        char *other_ca_file; /* an unrelated CA: verification against it must fail */
        char *base_dn;    /* "dc=example,dc=org" */
        char *admin_dn;   /* rootdn, "cn=admin,dc=example,dc=org" */
        char *admin_pw;
        char *service_dn; /* read-only search account for the broker */
        char *service_pw;
};

/* Start a fresh slapd with the sample directory (tests/harness/sample.ldif):
 *   users   alice (alice-pw), bob (bob-pw), carol (carol-pw), dave (dave-pw)
 *   groups  cn=staff (groupOfNames: alice, bob, cn=engineering),
 *           cn=engineering (groupOfNames: carol), cn=vdi-admins (groupOfNames: dave),
 *           cn=designers (groupOfUniqueNames: bob), cn=unix (posixGroup: memberUid alice)
 * with the memberof overlay, so users carry memberOf for direct groups.
 * Returns 0 and *out, or -errno with the reason printed on stderr. */
int harness_ldap_start(struct harness_ldap **out);

/* Stop slapd and delete its directory. Accepts NULL. */
void harness_ldap_stop(struct harness_ldap *ldap);
