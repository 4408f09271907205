/*
 * libFuzzer target for the health state file (operator overrides kept
 * across restarts): any bytes must load or be refused with at least one
 * message (a refused file changes nothing), and loading a file twice
 * gives the same verdict.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "health/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *path;
    static health_t *h;
    if (!path) {
        path = fuzz_path("state");
        h = health_new(NULL, path, NULL, NULL);
    }
    fuzz_write(path, data, size);
    bool first = false;
    for (int round = 0; round < 2; round++) {
        diag_t d;
        diag_init(&d);
        d.quiet = true;
        bool ok = health_load_state(h, &d);
        if (ok != (d.errors == 0) || (round == 1 && ok != first))
            abort();
        first = ok;
        diag_free(&d);
    }
    /* the overrides just read, applied to no target: must not disturb */
    if (health_force_dc(h, "eu-west", HEALTH_AUTO) < -EIO)
        abort();
    return 0;
}
