/* What the parts of the test guest's agent (tests/guest/agent*.c) share. */
#pragma once

/* One "AGENT <event> ..." line on the console, unbuffered; fmt may be NULL. */
__attribute__((format(printf, 2, 3)))
void agent_report(const char *event, const char *fmt, ...);
/* "AGENT error what=... detail=... errno=N (text)". */
void agent_error(const char *what, const char *detail, int err);
/* The virtio-console port named want (/sys/class/virtio-ports/NAME/name)
 * opened read-write, reporting the ports seen; -1 when there is none. */
int agent_vport_open(const char *want);

/* Open every /dev/input/event* (non-blocking) into fds (at most max),
 * waiting up to 5 s until there are want of them (0: one look); reports each
 * ("AGENT input-dev ..."); returns how many are open. */
int agent_input_open(int *fds, int max, int want);
/* Actions (agent.c's agent_actions[]): each returns the reboot(2) command
 * to end with. */
int agent_act_gputest(void);

/* Instant clones (agent-clone.c): the kernel's uevents socket and its log
 * (-1 on error), what arrived on them; a read of org.vdi.agent.0's
 * messages (0, or -1 when the port is gone); the "AGENT ident ..." report. */
int agent_clone_open_uevents(void);
void agent_clone_uevents(int fd);
int agent_clone_open_kmsg(void);
void agent_clone_kmsg(int fd);
int agent_clone_vport(int fd);
void agent_clone_ident(void);
/* How many "cloned" messages were handled (each one a new host name). */
unsigned agent_clone_forks(void);
