/* libFuzzer target: the snapshot state file (hostd/vmm/state/) as
 * vdi-vm --restore reads it, before KVM: the container (header, sections,
 * checksums), the vCPU sections, and the device loaders (UART, PCI with
 * its host bridge, power). FUZZING builds skip nothing: checksums must
 * be right for a section to reach its loader, so the seeds carry valid
 * ones and the fuzzer mutates from there. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "disks.h"
#include "pci.h"
#include "power.h"
#include "serial.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_power(void *o, enum power_event ev, const char *how)
{
        (void)o;
        (void)ev;
        (void)how;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct state_file f;
        struct vm_err err;
        struct serial serial;
        struct power power;
        struct pci_bus bus;
        struct pci_device host;

        struct snap_disks disks;

        if (state_file_parse(data, size, &f, &err) < 0)
                return 0;
        (void)snap_disks_load(&f, &disks, &err);
        serial_init(&serial, -1, 4);
        power_init(&power, on_power, NULL);
        pci_bus_init(&bus);
        pci_host_bridge_init(&host);
        pci_bus_add(&bus, &host, 0);
        for (unsigned i = 0; i < f.nsec; i++) {
                const struct state_section *s = &f.sec[i];
                struct state_reader r;

                state_reader_init(&r, s);
                if (strncmp(s->name, "vcpu.", 5) == 0)
                        (void)cpu_state_validate(s, &err);
                else if (strcmp(s->name, "dev.serial") == 0)
                        (void)serial_state_ops.load(&serial, &r, &err);
                else if (strcmp(s->name, "dev.power") == 0)
                        (void)power_state_ops.load(&power, &r, &err);
                else if (strcmp(s->name, "dev.pci") == 0)
                        (void)pci_state_ops.load(&bus, &r, &err);
                else {
                        while (state_reader_ok(&r))
                                (void)state_get_u32(&r);
                        (void)state_reader_done(&r, &err);
                }
        }
        pci_bus_destroy(&bus);
        power_destroy(&power);
        serial_destroy(&serial);
        state_file_free(&f);
        return 0;
}
