/* Migrations embedded at build time by sql/embed-migrations from the
 * numbered files sql/NNN-name.sql (see sql/local.mk). */
#pragma once

struct db_migration {
        unsigned version; /* NNN */
        const char *name; /* the part after "NNN-" */
        const char *sql;  /* the file's text */
};

/* Sorted by version: 1, 2, ... db_migrations_count. */
extern const struct db_migration db_migrations[];
extern const unsigned db_migrations_count;
