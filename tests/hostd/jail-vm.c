/* Stand-in for vdi-vm in tests/hostd/api.c (no /dev/kvm here) that dies
 * the way a confined vdi-vm does: with vdi-vm's real seccomp filters
 * (hostd/vmm/jail.c). It sleeps until a file "trip" appears in its working
 * directory (the VM's directory) naming a thread class, then starts a
 * thread of that class, named as vdi-vm's would be, which makes a call
 * its class forbids: SIGSYS, after the report line on stderr
 * (vdi-vm.log), which vdi-hostd turns into the crash reason. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "jail-trip.h"

static void *tripper(void *arg)
{
        enum jail_class c = (enum jail_class)(long)arg;

        prctl(PR_SET_NAME, c == JAIL_DISPLAY ? "rdp-peer" : jail_class_name(c), 0, 0, 0);
        if (jail_enter(c) < 0)
                return NULL;
        jail_trip(c);
        return NULL;
}

int main(int argc, char **argv)
{
        char name[32] = "";
        pthread_t t;

        if (argc > 1 && strcmp(argv[1], "--help") == 0) {
                printf("Usage: jail-vm --kernel K\n");
                return 0;
        }
        if (jail_arm(false) < 0)
                return 1;
        for (;;) {
                FILE *f = fopen("trip", "r");
                if (f) {
                        (void)!fgets(name, sizeof(name), f);
                        fclose(f);
                        break;
                }
                usleep(20 * 1000);
        }
        name[strcspn(name, "\n")] = 0;
        for (int c = 0; c < JAIL_NCLASSES; c++)
                if (strcmp(name, jail_class_name(c)) == 0 &&
                    pthread_create(&t, NULL, tripper, (void *)(long)c) == 0)
                        pthread_join(t, NULL);
        fprintf(stderr, "jail-vm: class \"%s\" was not killed\n", name);
        return 2;
}
