# Every TLS listener against Mozilla's "intermediate" profile (lib/tls-policy.h),
# probed from outside with openssl s_client. Needs the daemons and the
# stand-alone display servers (make check builds check_PROGRAMS first).
TESTS += tests/tls/profile.sh
EXTRA_DIST += tests/tls/profile.sh tests/tls/rdp-tls-probe.py
