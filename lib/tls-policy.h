/* The TLS profile of every listener we own: Mozilla's "intermediate"
 * configuration (https://wiki.mozilla.org/Security/Server_Side_TLS,
 * version 5.7): TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange
 * with AES-GCM or ChaCha20-Poly1305 (no CBC, no SHA-1 MAC, no static RSA
 * key exchange); groups X25519, P-256, P-384. Mozilla's list also has
 * three DHE suites; we leave them out (nothing we serve needs them and
 * finite-field DH needs parameters we would have to manage).
 *
 * One definition per TLS library, so the portal and host API (GnuTLS, via
 * libmicrohttpd), SPICE (OpenSSL, inside spice-server) and RDP (OpenSSL,
 * inside FreeRDP) offer the same suites. tests/tls-profile.sh probes each
 * listener with openssl s_client. */
#pragma once

/* GnuTLS priority string (gnutls_priority_init). TLS 1.3's own suites
 * are all AEAD; the KX list only restricts TLS 1.2. */
#define TLS_POLICY_GNUTLS                                                                      \
        "NONE:+VERS-TLS1.3:+VERS-TLS1.2:"                                                      \
        "+ECDHE-ECDSA:+ECDHE-RSA:"                                                             \
        "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD:"                                  \
        "+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"                                     \
        "+SIGN-ALL:-SIGN-RSA-SHA1:-SIGN-DSA-SHA1:-SIGN-ECDSA-SHA1:+COMP-NULL:+CTYPE-X509"

/* OpenSSL cipher list for TLS 1.2 (SSL_CTX_set_cipher_list); every suite
 * in it is TLS 1.2-only, so older protocol versions find nothing to agree
 * on even where the library cannot be told a minimum version. TLS 1.3
 * suites are OpenSSL's defaults (all AEAD). */
#define TLS_POLICY_OPENSSL_CIPHERS                                                             \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                           \
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                           \
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
