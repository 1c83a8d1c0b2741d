# auth/: authentication backends (auth/auth.h): LDAP and the local admin.
noinst_LIBRARIES += auth/libvdiauth.a
auth_libvdiauth_a_SOURCES = \
	auth/auth.c auth/auth.h \
	auth/ldap.h auth/ldap-internal.h \
	auth/ldap-config.c auth/ldap-conn.c auth/ldap-groups.c auth/ldap-auth.c \
	auth/local-admin.c auth/local-admin.h
auth_libvdiauth_a_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(LDAP_CFLAGS) $(CRYPT_CFLAGS)

# Link line for programs using auth/ (put $(LIBVDI) after it).
LIBVDIAUTH = auth/libvdiauth.a $(LDAP_LIBS) $(GLIB_LIBS) $(CRYPT_LIBS)
