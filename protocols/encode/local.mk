# H.264 encoding through GStreamer (x264enc or a hardware encoder).
noinst_LIBRARIES += protocols/encode/libencode.a
protocols_encode_libencode_a_SOURCES = protocols/encode/h264enc.c protocols/encode/h264enc.h
protocols_encode_libencode_a_CFLAGS = $(AM_CFLAGS) $(GST_CFLAGS) $(GLIB_CFLAGS)
ENCODE_LIBS = protocols/encode/libencode.a $(GST_LIBS) $(GLIB_LIBS)
