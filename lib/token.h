/* Secure random tokens: session ids, CSRF tokens, one-time tickets.
 * Randomness comes from getrandom(2); text is URL-safe base64 without
 * padding (RFC 4648 §5), so tokens fit in URLs, cookies and file names. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Smallest token the design allows for a ticket: 72 random bits. */
#define TOKEN_MIN_BYTES 9
/* Default strength for session ids and tickets: 192 bits. */
#define TOKEN_DEFAULT_BYTES 24

/* Fill buf with len cryptographically secure random bytes. 0 or -errno. */
int token_random_bytes(void *buf, size_t len);

/* Make a new token of nbytes random bytes (TOKEN_MIN_BYTES..256) and store
 * its URL-safe text in *out (malloc'd, caller frees). 0 or -errno; -EINVAL
 * for a size outside the range. */
int token_new(size_t nbytes, char **out);

/* URL-safe base64 of len bytes without padding; malloc'd, NULL on ENOMEM. */
char *token_base64url(const void *data, size_t len);

/* Decode URL-safe base64 without padding (what token_base64url makes).
 * 0 with *out (malloc'd) and *outlen, or -EINVAL for any other text. */
int token_base64url_decode(const char *text, unsigned char **out, size_t *outlen);

/* Compare two NUL-terminated secrets in time independent of where they
 * differ. Different lengths compare unequal. */
bool token_equal(const char *a, const char *b);

/* Lowercase hex SHA-256 of a token, for storing tickets and session ids
 * hashed. *out is malloc'd (65 bytes). 0 or -errno. */
int token_hash(const char *token, char **out);

/* True when s looks like one of our tokens: only URL-safe base64 characters
 * and a length in [min_len, max_len]. Used to reject garbage early. */
bool token_is_wellformed(const char *s, size_t min_len, size_t max_len);
