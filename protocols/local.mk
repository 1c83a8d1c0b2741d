# Shared protocol pieces: the display interface and the scancode table.
noinst_LIBRARIES += protocols/libprotocols.a
protocols_libprotocols_a_SOURCES = protocols/display.h protocols/display.c protocols/keymap.c protocols/keymap.h \
	protocols/damage.c protocols/damage.h
