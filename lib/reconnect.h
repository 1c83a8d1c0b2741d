/* Reconnect tickets (issue 23): a launch hands the user a ticket, signed
 * by the brokers' Ed25519 key, that names their desktop and its host. A
 * host verifies it with the public key alone, without the database, so a
 * user with a live session reaches their own desktop again while
 * PostgreSQL is down. Single use is enforced by the host (the nonce).
 *
 * Text form: base64url(JSON claims) "." base64url(Ed25519 signature over
 * the first part's characters), no padding; at most RECONNECT_MAX_LEN. */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#define RECONNECT_MAX_LEN 2048

struct reconnect_claims {
        char *user;     /* the directory user the desktop is assigned to */
        char *vm;       /* the desktop's id, as the host knows the VM */
        char *host;     /* host name, for messages */
        char *address;  /* host API address and port: how a broker reaches it */
        int port;
        char *protocol; /* "rdp" or "spice" */
        char *pool;     /* pool name, for the connection file */
        char *desktop;  /* desktop name, for the answer */
        int64_t issued_at_ms; /* Unix time in ms: hosts compare it with a refresh */
        int64_t expires_at;   /* Unix seconds */
        char *nonce;    /* random, for single use */
};

/* Load an Ed25519 key from a PEM file: a private key when private_key, else
 * a public key or a private key (whose public half is used). 0 with *out
 * (EVP_PKEY_free it), or -errno with a malloc'd message naming the file. */
int reconnect_key_load(const char *path, bool private_key, EVP_PKEY **out, char **error);

/* Sign c (a fresh nonce is drawn when c->nonce is NULL) with an Ed25519
 * private key. *out is malloc'd. 0 or -errno. */
int reconnect_sign(EVP_PKEY *key, const struct reconnect_claims *c, char **out);

/* Check ticket's signature with key and its lifetime against now. On
 * success fills *out (free with reconnect_claims_clear). Errors, with a
 * malloc'd message in *error that never quotes the ticket:
 *   -EINVAL  not a reconnect ticket (malformed, missing claims)
 *   -EPERM   signature does not match (forged, altered, other key)
 *   -ESTALE  expired */
int reconnect_verify(EVP_PKEY *key, const char *ticket, int64_t now,
                     struct reconnect_claims *out, char **error);

/* Free c's strings. Accepts NULL. */
void reconnect_claims_clear(struct reconnect_claims *c);
