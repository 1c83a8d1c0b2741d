# sql/: numbered schema migrations and the libpq data layer (sql/db.h).
# Migrations are embedded into the library at build time, so daemons never
# read the source tree at run time. Add new files here, in order.
SQL_MIGRATIONS = sql/001-schema.sql sql/002-broker.sql sql/003-hostd-pools.sql sql/004-pool-network.sql \
	sql/005-session-prune-index.sql \
	sql/006-ticket-desktop-index.sql sql/007-pool-user-actions.sql \
	sql/008-web-protocol.sql sql/009-image-display.sql sql/010-pool-clipboard.sql \
	sql/011-instant-clones.sql sql/012-desktop-suspended.sql

noinst_LIBRARIES += sql/libvdisql.a
sql_libvdisql_a_SOURCES = \
	sql/db.h sql/db-internal.h sql/db-migrations.h \
	sql/db-conn.c sql/db-pool.c sql/db-migrate.c \
	sql/db-desktop.c sql/db-inventory.c sql/db-events.c
nodist_sql_libvdisql_a_SOURCES = sql/migrations-data.c
sql_libvdisql_a_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(PQ_CFLAGS)

sql/migrations-data.c: $(SQL_MIGRATIONS) sql/embed-migrations
	$(AM_V_GEN)$(MKDIR_P) sql && \
	$(SHELL) $(srcdir)/sql/embed-migrations $@ $(srcdir) $(SQL_MIGRATIONS)

CLEANFILES += sql/migrations-data.c
EXTRA_DIST += $(SQL_MIGRATIONS) sql/embed-migrations

# Link line for programs using the data layer (after LIBVDI's objects).
LIBVDISQL = sql/libvdisql.a $(PQ_LIBS) $(GLIB_LIBS)

# bench/auth-db (DESIGN.md §10): login and claim throughput against real
# slapd and PostgreSQL (started through the test harness), each next to the
# same operations issued with plain libldap / libpq.
noinst_PROGRAMS += bench/auth-db
BENCHES += bench/auth-db
bench_auth_db_SOURCES = bench/auth-db.c
bench_auth_db_CPPFLAGS = $(TEST_CPPFLAGS) $(GLIB_CFLAGS) $(LDAP_CFLAGS) $(PQ_CFLAGS)
bench_auth_db_LDADD = $(LIBVDIAUTH) $(LIBVDISQL) $(HARNESS_LIB) $(LIBVDI)
