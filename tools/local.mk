# tools/: vdictl, the admin CLI over vdi-brokerd's admin API.
bin_PROGRAMS += tools/vdictl
tools_vdictl_SOURCES = tools/vdictl.c
tools_vdictl_CPPFLAGS = $(AM_CPPFLAGS) $(GLIB_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
tools_vdictl_LDADD = $(GLIB_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)

EXTRA_DIST += tools/pools.conf.example
