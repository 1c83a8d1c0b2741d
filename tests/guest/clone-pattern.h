/* What each instant clone of the test guest's counter action shows on its
 * framebuffer (tests/guest/agent.c) and the clone lab's clients expect
 * (tests/vmm/clone-client.c, tests/vmm/clones-lab.py): once a clone has its
 * host name ("cloned"), a CLONE_ID_W x CLONE_ID_H band at CLONE_ID_X,
 * CLONE_ID_Y in clone_ident_color(host name); the n-th key pressed since
 * then fills cell n, CLONE_KEY_W x CLONE_KEY_H at (CLONE_KEY_X + n *
 * CLONE_KEY_STEP, CLONE_KEY_Y), in clone_key_color(its evdev code), which
 * differs for every code below 256. Both sit inside a 640x480 screen, clear
 * of the red rectangle the counter draws at 10,10. XRGB8888. */
#pragma once

#include <stdint.h>

#define CLONE_ID_X 160
#define CLONE_ID_Y 200
#define CLONE_ID_W 320
#define CLONE_ID_H 40
#define CLONE_KEY_X 160
#define CLONE_KEY_Y 280
#define CLONE_KEY_W 24
#define CLONE_KEY_H 32
#define CLONE_KEY_STEP 32
#define CLONE_KEY_CELLS 10 /* cells drawn; later keys only counted */

/* FNV-1a of the host name, never black. */
static inline uint32_t clone_ident_color(const char *host)
{
        uint32_t h = 2166136261u;

        for (; *host; host++)
                h = (h ^ (uint8_t)*host) * 16777619u;
        return (h & 0x00ffffffu) | 0x00404040u;
}

static inline uint32_t clone_key_color(unsigned code)
{
        return 0x00e00060u | (code & 0xffu) << 8;
}
